"""One front door for reading and validating scans of any supported format."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..drivers.base import ScanGeometry
from .dxchange import read_dxchange
from .errors import DimensionError, UnreadableFileError
from .hdf5 import open_hdf5
from .nxtomo import read_nxtomo
from .scan import ScanData
from .tiff import read_tiff_stack

__all__ = ["FORMATS", "detect_format", "read_scan", "validate_scan"]

FORMATS = ("nxtomo", "dxchange", "tiff")
"""Format names accepted by :func:`read_scan` and :func:`validate_scan`."""


def detect_format(path: str | Path) -> str:
    """``"tiff"`` for a JSON file or folder, else ``"nxtomo"`` or ``"dxchange"`` by content.

    Raises
    ------
    UnreadableFileError
        Missing file, or an HDF5 file that is neither NXtomo nor DXchange (NotHDF5Error
        for non-HDF5 content).
    """
    path = Path(path)
    if path.is_dir() or path.suffix.lower() == ".json":
        return "tiff"
    with open_hdf5(path) as f:
        if isinstance(f.get("/entry/instrument/detector/data"), h5py.Dataset):
            return "nxtomo"
        if isinstance(f.get("/exchange/data"), h5py.Dataset):
            return "dxchange"
    raise DimensionError(f"{path.name}: HDF5 file with neither NXtomo nor DXchange data")


def read_scan(
    path: str | Path,
    fmt: str | None = None,
    geometry: ScanGeometry | Mapping[str, Any] | None = None,
) -> ScanData:
    """Read a scan (projections lazily) in any supported format.

    Parameters
    ----------
    path : str or pathlib.Path
        HDF5 file, TIFF-stack JSON, or a folder holding ``geometry.json``.
    fmt : {"nxtomo", "dxchange", "tiff"}, optional
        Detected from the content when ``None``.
    geometry : ScanGeometry or mapping, optional
        Geometry for formats that may lack it (DXchange, TIFF); ignored for NXtomo.

    Returns
    -------
    ScanData

    Raises
    ------
    ScanFormatError
        A subclass per kind of bad input (see :mod:`acquisition.formats.errors`).
    ValueError
        Unknown ``fmt``.
    """
    fmt = detect_format(path) if fmt is None else fmt
    if fmt == "nxtomo":
        return read_nxtomo(path)
    if fmt == "dxchange":
        return read_dxchange(path, geometry)
    if fmt == "tiff":
        if isinstance(geometry, ScanGeometry):
            geometry = {
                "sod_um": geometry.sod_um,
                "sdd_um": geometry.sdd_um,
                "pixel_um": geometry.pixel_um,
                "axis_pixel_position": geometry.axis_pixel_position,
            }
        return read_tiff_stack(path, geometry)
    raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")


def validate_scan(
    path: str | Path, fmt: str, geometry: ScanGeometry | Mapping[str, Any] | None = None
) -> ScanData:
    """Read a scan as :func:`read_scan` does, and also read its first and last projections.

    Reading data (not only the headers) catches files whose data are cut short.

    Raises
    ------
    ScanFormatError
        As :func:`read_scan`, plus :class:`UnreadableFileError` for unreadable frames.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    scan = read_scan(path, fmt, geometry)
    try:
        for k in {0, scan.n_projections - 1}:
            frame = scan.projections[k]
            if frame.dtype.kind == "f" and not np.all(np.isfinite(frame)):
                raise UnreadableFileError(
                    f"{Path(path).name}: projection {k} has non-finite values"
                )
    except (OSError, RuntimeError, KeyError) as exc:
        raise UnreadableFileError(f"{Path(path).name}: projection data unreadable ({exc})") from exc
    return scan
