"""Data Exchange (DXchange, APS) HDF5 scans: ``/exchange/{data,data_white,data_dark,theta}``.

DXchange has no cone-beam geometry of its own. It is taken, in this order, from the
``geometry`` argument, the NXtomo paths of the same file (files written by
:class:`~acquisition.formats.NXtomoWriter` carry both), or a JSON file beside it with
the same name and the suffix ``.json`` holding ``sod_um``, ``sdd_um``, ``pixel_um`` and
optionally ``axis_pixel_position``. ``theta`` is in degrees unless its ``units`` say
radians. Reference: De Carlo et al., J. Synchrotron Rad. 2014;21:1224.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..drivers.base import ScanGeometry
from .errors import DimensionError, UnreadableFileError
from .hdf5 import HDF5Stack, open_hdf5, read_optional
from .nxtomo import nxtomo_geometry
from .scan import ScanData, check_scan_parts, geometry_from_mapping

__all__ = ["read_dxchange"]


def _theta_deg(group: h5py.Group) -> np.ndarray | None:
    theta = read_optional(group, "theta")
    if theta is None:
        return None
    units = group["theta"].attrs.get("units", "deg")
    units = units.decode() if isinstance(units, bytes) else str(units)
    theta = np.asarray(theta, dtype=np.float64).ravel()
    return np.degrees(theta) if units.lower() in ("rad", "radian", "radians") else theta


def _sidecar_geometry(path: Path, frame_shape: tuple[int, int]) -> ScanGeometry:
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return geometry_from_mapping(
            {}, frame_shape, f"{path.name} (no NXtomo geometry, no {sidecar.name})"
        )
    try:
        values = json.loads(sidecar.read_text())
    except (OSError, ValueError) as exc:
        raise UnreadableFileError(f"{sidecar.name}: not valid JSON ({exc})") from exc
    return geometry_from_mapping(
        values if isinstance(values, dict) else {}, frame_shape, sidecar.name
    )


def read_dxchange(
    path: str | Path, geometry: ScanGeometry | Mapping[str, Any] | None = None
) -> ScanData:
    """Read a DXchange HDF5 scan (projections lazily).

    Parameters
    ----------
    path : str or pathlib.Path
    geometry : ScanGeometry or mapping, optional
        Geometry to use instead of the file's (mapping keys as in the JSON sidecar).

    Returns
    -------
    ScanData

    Raises
    ------
    NotHDF5Error, DimensionError, UnsupportedDtypeError, MissingReferenceError,
    AngleError, GeometryMissingError
    """
    path = Path(path)
    where = path.name
    with open_hdf5(path) as f:
        exchange = f.get("exchange")
        data = exchange.get("data") if isinstance(exchange, h5py.Group) else None
        if not isinstance(data, h5py.Dataset):
            raise DimensionError(f"{where}: no /exchange/data dataset (not a DXchange scan)")
        white, dark = exchange.get("data_white"), exchange.get("data_dark")
        frame_shape = tuple(int(n) for n in data.shape[1:3])
        angles = check_scan_parts(
            projection_shape=data.shape,
            dtype=data.dtype,
            flats_shape=white.shape if isinstance(white, h5py.Dataset) else None,
            darks_shape=dark.shape if isinstance(dark, h5py.Dataset) else None,
            angles_deg=_theta_deg(exchange),
            where=where,
        )
        if isinstance(geometry, ScanGeometry):
            geom = geometry
        elif geometry is not None:
            geom = geometry_from_mapping(geometry, frame_shape, f"{where} (given geometry)")
        elif "/entry/instrument/source/distance" in f:
            geom = nxtomo_geometry(f, frame_shape, where)
        else:
            geom = _sidecar_geometry(path, frame_shape)
        if (geom.n_rows, geom.n_cols) != frame_shape:
            raise DimensionError(
                f"{where}: geometry is for {geom.n_rows}×{geom.n_cols} frames, data {frame_shape}"
            )
        flats, darks = white[()], dark[()]
        shape, dtype = data.shape, data.dtype
    return ScanData(
        path=path,
        format="dxchange",
        projections=HDF5Stack(path, "/exchange/data", np.arange(shape[0]), shape, dtype),
        flats=flats,
        darks=darks,
        angles_deg=angles,
        geometry=geom,
    )
