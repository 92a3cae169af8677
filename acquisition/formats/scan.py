"""What every reader returns: :class:`ScanData`, with projections read lazily.

The checks every format shares (dimensions, dtype, angles, flats/darks, geometry) are
written once here, in :func:`check_scan_parts`, so that a DXchange file and a TIFF stack
fail in the same way and with the same messages as an NXtomo file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..drivers.base import ScanGeometry
from .errors import (
    AngleError,
    DimensionError,
    GeometryMissingError,
    MissingReferenceError,
    UnsupportedDtypeError,
)

__all__ = [
    "SUPPORTED_DTYPES",
    "LazyStack",
    "ProjectionStack",
    "ScanData",
    "check_scan_parts",
    "geometry_from_mapping",
]

SUPPORTED_DTYPES = (
    np.dtype(np.uint8),
    np.dtype(np.uint16),
    np.dtype(np.uint32),
    np.dtype(np.float32),
)
"""Detector data types accepted on import (counts as unsigned integers, or float32)."""


class ProjectionStack(Protocol):
    """A read-only ``[angle, row, col]`` stack that reads from disk on demand."""

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(n_projections, rows, cols)``."""
        ...

    @property
    def dtype(self) -> np.dtype:
        """Element type as stored."""
        ...

    def __len__(self) -> int: ...

    def __getitem__(self, index: int | slice) -> np.ndarray:
        """Projection ``index`` ([rows, cols]) or a range of them ([n, rows, cols])."""
        ...

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        """Detector rows ``start:stop`` of every projection, ``[n, stop - start, cols]``."""
        ...


class LazyStack:
    """Base of the on-disk stacks: indexing and row reads on top of one ``_read`` method.

    Parameters
    ----------
    n_frames : int
    frame_shape : tuple of int
        ``(rows, cols)``.
    dtype : numpy.dtype
    """

    def __init__(self, n_frames: int, frame_shape: tuple[int, int], dtype: np.dtype) -> None:
        self._n = int(n_frames)
        self._frame_shape = (int(frame_shape[0]), int(frame_shape[1]))
        self._dtype = np.dtype(dtype)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(n_frames, rows, cols)``."""
        return (self._n, *self._frame_shape)

    @property
    def dtype(self) -> np.dtype:
        """Stored element type."""
        return self._dtype

    def __len__(self) -> int:
        return self._n

    def _read(self, positions: np.ndarray, rows: slice) -> np.ndarray:
        """Frames at ``positions`` (of this stack), rows ``rows``: ``[n, rows, cols]``."""
        raise NotImplementedError

    def __getitem__(self, index: int | slice) -> np.ndarray:
        all_rows = slice(0, self._frame_shape[0])
        if isinstance(index, slice):
            return self._read(np.arange(self._n)[index], all_rows)
        k = int(index)
        if not -self._n <= k < self._n:
            raise IndexError(f"projection {k} out of range 0–{self._n - 1}")
        return self._read(np.array([k % self._n]), all_rows)[0]

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of every frame, ``[n, stop - start, cols]``."""
        if not 0 <= start < stop <= self._frame_shape[0]:
            raise ValueError(f"rows must satisfy 0 <= start < stop <= {self._frame_shape[0]}")
        return self._read(np.arange(self._n), slice(int(start), int(stop)))


@dataclass(frozen=True, eq=False)
class ScanData:
    """A raw scan as read from any supported format (Django-free).

    Attributes
    ----------
    path : pathlib.Path
        The file (or TIFF-stack JSON) read.
    format : str
        ``"nxtomo"``, ``"dxchange"`` or ``"tiff"``.
    projections : ProjectionStack
        Lazy ``[n_projections, rows, cols]`` stack, in acquisition order.
    flats, darks : numpy.ndarray
        ``[n, rows, cols]`` flat (open beam) and dark frames, as stored.
    angles_deg : numpy.ndarray
        float64 ``[n_projections]`` rotation angles (degrees), strictly increasing.
    geometry : ScanGeometry
        Nominal cone-beam geometry (µm, binned pixels).
    sample_name : str
    metadata : dict
        Whatever else the file records (source kV/µA, exposure, timestamps …).
    """

    path: Path
    format: str
    projections: ProjectionStack
    flats: np.ndarray
    darks: np.ndarray
    angles_deg: np.ndarray
    geometry: ScanGeometry
    sample_name: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def n_projections(self) -> int:
        """Number of projections."""
        return len(self.projections)

    @property
    def frame_shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of one frame."""
        return tuple(self.projections.shape[1:])  # type: ignore[return-value]


def geometry_from_mapping(
    values: Mapping[str, Any], frame_shape: tuple[int, int], where: str
) -> ScanGeometry:
    """Build the geometry from ``sod_um``, ``sdd_um``, ``pixel_um`` (+ ``axis_pixel_position``).

    Raises
    ------
    GeometryMissingError
        Naming the missing or invalid keys and ``where`` they were looked for.
    """
    missing = [k for k in ("sod_um", "sdd_um", "pixel_um") if values.get(k) is None]
    if missing:
        raise GeometryMissingError(f"geometry missing in {where}: no {', '.join(missing)}")
    try:
        sod, sdd, pixel = (float(values[k]) for k in ("sod_um", "sdd_um", "pixel_um"))
        axis = values.get("axis_pixel_position")
        axis = (frame_shape[1] - 1) / 2.0 if axis is None else float(axis)
        if not all(math.isfinite(v) for v in (sod, sdd, pixel, axis)):
            raise ValueError("geometry values must be finite")
        return ScanGeometry(sod, sdd, pixel, int(frame_shape[0]), int(frame_shape[1]), axis)
    except (TypeError, ValueError) as exc:
        raise GeometryMissingError(f"invalid geometry in {where}: {exc}") from exc


def _check_frames(name: str, shape: Sequence[int], frame_shape: tuple[int, int] | None) -> None:
    if len(shape) != 3:
        raise DimensionError(
            f"{name} must be a 3-D stack [frame, row, col], got {len(shape)}-D shape {tuple(shape)}"
        )
    if frame_shape is not None and tuple(shape[1:]) != tuple(frame_shape):
        raise DimensionError(
            f"{name} frames are {tuple(shape[1:])} but projections are {tuple(frame_shape)}"
        )


def check_scan_parts(
    *,
    projection_shape: Sequence[int],
    dtype: np.dtype,
    flats_shape: Sequence[int] | None,
    darks_shape: Sequence[int] | None,
    angles_deg: np.ndarray | None,
    where: str,
) -> np.ndarray:
    """The checks every format shares; returns the angles as float64.

    Parameters
    ----------
    projection_shape : sequence of int
        Shape of the projection stack.
    dtype : numpy.dtype
        Element type of the detector data.
    flats_shape, darks_shape : sequence of int or None
        Shapes of the flat and dark stacks (``None`` or 0 frames: missing).
    angles_deg : numpy.ndarray or None
        Angles of the projections (degrees).
    where : str
        File name for the messages.

    Raises
    ------
    DimensionError, UnsupportedDtypeError, MissingReferenceError, AngleError
    """
    _check_frames(f"{where}: projections", projection_shape, None)
    n, rows, cols = (int(s) for s in projection_shape)
    if n < 1 or rows < 1 or cols < 1:
        raise DimensionError(f"{where}: empty projection stack {tuple(projection_shape)}")
    if np.dtype(dtype) not in SUPPORTED_DTYPES:
        names = ", ".join(d.name for d in SUPPORTED_DTYPES)
        raise UnsupportedDtypeError(
            f"{where}: detector data are {np.dtype(dtype)}; supported: {names}"
        )
    for label, shape in (("flat fields", flats_shape), ("dark fields", darks_shape)):
        if shape is None or (len(shape) >= 1 and int(shape[0]) == 0):
            raise MissingReferenceError(f"{where}: no {label}; flats and darks are both needed")
        _check_frames(f"{where}: {label}", shape, (rows, cols))
    if angles_deg is None:
        raise AngleError(f"{where}: rotation angles are missing")
    angles = np.asarray(angles_deg, dtype=np.float64)
    if angles.ndim != 1 or angles.size != n:
        raise AngleError(
            f"{where}: {angles.size} rotation angles for {n} projections (shape {angles.shape})"
        )
    if not np.all(np.isfinite(angles)):
        raise AngleError(f"{where}: rotation angles must be finite")
    steps = np.diff(angles)
    if np.any(steps <= 0):
        k = int(np.argmax(steps <= 0))
        raise AngleError(
            f"{where}: rotation angles must increase strictly; angle {k + 1} "
            f"({angles[k + 1]:g}°) follows {angles[k]:g}°"
        )
    return angles
