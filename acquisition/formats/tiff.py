"""TIFF stacks with a JSON description: projections, flats and darks as TIFF files.

The JSON file (``geometry.json`` in a folder, or any ``.json`` path) reads::

    {
      "projections": "projections.tif",           # a multi-page TIFF, or a list of files
      "flats": ["flat_0.tif", "flat_1.tif"],
      "darks": "darks.tif",
      "angles_deg": [0.0, 1.0, ...],              # one per projection, increasing
      "sod_um": 25000, "sdd_um": 250000, "pixel_um": 44.0,
      "axis_pixel_position": 255.5,               # optional (default: centre column)
      "sample_name": "mouse 12"                   # optional
    }

File names are relative to the JSON file's folder. Pages are read with ``tifffile``
only when asked for.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from .errors import DimensionError, UnreadableFileError
from .scan import LazyStack, ScanData, check_scan_parts, geometry_from_mapping

__all__ = ["TiffStack", "read_tiff_stack", "write_tiff_stack"]


class TiffStack(LazyStack):
    """Frames stored as TIFF pages, ``[(file, page), …]``, read on demand."""

    def __init__(
        self, pages: Sequence[tuple[Path, int]], frame_shape: tuple[int, int], dtype: np.dtype
    ) -> None:
        super().__init__(len(pages), frame_shape, dtype)
        self.pages = list(pages)

    def _read(self, positions: np.ndarray, rows: slice) -> np.ndarray:
        out = np.empty((len(positions), rows.stop - rows.start, self.shape[2]), self.dtype)
        for pos, k in enumerate(positions):
            file, page = self.pages[k]
            try:
                out[pos] = tifffile.imread(file, key=page)[rows]
            except (OSError, ValueError, tifffile.TiffFileError) as exc:
                raise UnreadableFileError(
                    f"{file.name} page {page}: unreadable TIFF ({exc})"
                ) from exc
        return out


def _pages(
    folder: Path, spec: Any, what: str, json_name: str
) -> tuple[list[tuple[Path, int]], tuple[int, ...], np.dtype] | None:
    """Pages, stack shape and dtype of one entry of the JSON (``None``: absent or empty)."""
    if spec is None or spec == []:
        return None
    names = [spec] if isinstance(spec, str) else spec
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise UnreadableFileError(f"{json_name}: {what!r} must be a file name or a list of names")
    pages: list[tuple[Path, int]] = []
    first: tuple[tuple[int, ...], np.dtype] | None = None
    for name in names:
        file = folder / name
        try:
            with tifffile.TiffFile(file) as tif:
                for k, page in enumerate(tif.pages):
                    this = (tuple(page.shape), np.dtype(page.dtype))
                    if first is None:
                        first = this
                    elif this != first:
                        raise DimensionError(
                            f"{name} page {k} is {this[0]} {this[1]}, the first {what} page "
                            f"{first[0]} {first[1]}"
                        )
                    pages.append((file, k))
        except FileNotFoundError as exc:
            raise UnreadableFileError(f"{json_name}: {what} file {name!r} not found") from exc
        except (OSError, tifffile.TiffFileError) as exc:
            raise UnreadableFileError(f"{name}: not a readable TIFF file ({exc})") from exc
    if first is None:
        return None
    return pages, (len(pages), *first[0]), first[1]


def _json_path(path: Path) -> Path:
    if path.is_dir():
        candidate = path / "geometry.json"
        if not candidate.is_file():
            raise UnreadableFileError(f"{path.name}: folder has no geometry.json")
        return candidate
    if not path.is_file():
        raise UnreadableFileError(f"{path.name}: no such file")
    return path


def read_tiff_stack(path: str | Path, geometry: Mapping[str, Any] | None = None) -> ScanData:
    """Read a TIFF stack described by a JSON file (see the module docstring).

    Parameters
    ----------
    path : str or pathlib.Path
        The JSON file, or a folder holding ``geometry.json``.
    geometry : mapping, optional
        Geometry keys overriding those of the JSON.

    Returns
    -------
    ScanData

    Raises
    ------
    UnreadableFileError, DimensionError, UnsupportedDtypeError, MissingReferenceError,
    AngleError, GeometryMissingError
    """
    json_file = _json_path(Path(path))
    try:
        spec = json.loads(json_file.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UnreadableFileError(f"{json_file.name}: not valid JSON ({exc})") from exc
    if not isinstance(spec, dict):
        raise UnreadableFileError(f"{json_file.name}: must hold a JSON object")
    folder, where = json_file.parent, json_file.name
    parts = {k: _pages(folder, spec.get(k), k, where) for k in ("projections", "flats", "darks")}
    if parts["projections"] is None:
        raise UnreadableFileError(f"{where}: no 'projections' listed")
    proj_pages, proj_shape, dtype = parts["projections"]
    angles = spec.get("angles_deg")
    try:
        angles = None if angles is None else np.asarray(angles, dtype=np.float64)
    except (TypeError, ValueError):
        angles = np.array([np.nan])
    angles = check_scan_parts(
        projection_shape=proj_shape,
        dtype=dtype,
        flats_shape=None if parts["flats"] is None else parts["flats"][1],
        darks_shape=None if parts["darks"] is None else parts["darks"][1],
        angles_deg=angles,
        where=where,
    )
    frame_shape = (int(proj_shape[1]), int(proj_shape[2]))
    geom = geometry_from_mapping({**spec, **(geometry or {})}, frame_shape, where)
    refs = {k: TiffStack(parts[k][0], frame_shape, parts[k][2])[:] for k in ("flats", "darks")}
    return ScanData(
        path=json_file,
        format="tiff",
        projections=TiffStack(proj_pages, frame_shape, dtype),
        flats=refs["flats"],
        darks=refs["darks"],
        angles_deg=angles,
        geometry=geom,
        sample_name=str(spec.get("sample_name", "")),
    )


def write_tiff_stack(
    folder: str | Path,
    *,
    projections: np.ndarray,
    flats: np.ndarray,
    darks: np.ndarray,
    angles_deg: Sequence[float],
    geometry: Mapping[str, float],
    sample_name: str = "",
) -> Path:
    """Write a scan as three multi-page TIFFs and ``geometry.json``; returns the JSON path.

    Parameters
    ----------
    folder : str or pathlib.Path
        Created if missing.
    projections, flats, darks : numpy.ndarray
        ``[n, rows, cols]`` stacks.
    angles_deg : sequence of float
    geometry : mapping
        ``sod_um``, ``sdd_um``, ``pixel_um`` (+ ``axis_pixel_position``).
    sample_name : str
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, stack in (("projections", projections), ("flats", flats), ("darks", darks)):
        with tifffile.TiffWriter(folder / f"{name}.tif") as tif:
            for frame in np.asarray(stack):
                tif.write(frame, photometric="minisblack")
    spec = {
        "projections": "projections.tif",
        "flats": "flats.tif",
        "darks": "darks.tif",
        "angles_deg": [float(a) for a in angles_deg],
        "sample_name": sample_name,
        **{k: float(v) for k, v in geometry.items()},
    }
    json_file = folder / "geometry.json"
    json_file.write_text(json.dumps(spec, indent=1))
    return json_file
