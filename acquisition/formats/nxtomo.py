"""NeXus NXtomo files: the streaming writer of raw scans, and their reader.

Layout written (every length in µm, angles in degrees, each with a ``units`` attribute)::

    /entry                               NXentry, definition = "NXtomo", start/end_time
      instrument/                        NXinstrument
        source/                          NXsource: type, name, probe, distance (= SOD),
                                         voltage (kV), current (uA)
        detector/                        NXdetector
          data [n, rows, cols]           frames in acquisition order, one chunk per frame
          image_key [n]                  0 projection, 1 flat, 2 dark
          timestamp [n]                  s since the start of the acquisition
          x_pixel_size, y_pixel_size     binned pixel (um)
          distance                       object to detector = SDD − SOD (um)
          x_rotation_axis_pixel_position nominal axis column (pixel)
          count_time                     exposure per frame (s)
      sample/                            NXsample: name, rotation_angle [n] (deg)
      data/                              NXdata: links to data, rotation_angle, image_key
      notes/                             NXnote: the acquisition settings as JSON
    /exchange                            DXchange (APS) view of the same frames, as HDF5
      data, data_white, data_dark        virtual datasets (no copy) selecting image_key
      theta                              0, 1, 2 frames, and the projection angles (deg)

Frames are appended one by one straight to the file (never all in memory), into a file
named ``.<name>.<random>.partial``; :meth:`NXtomoWriter.commit` checks the scan is
usable (projections, flats and darks present, angles increasing), closes, fsyncs and
renames the file and returns its sha256. :meth:`~NXtomoWriter.discard` (or leaving the
``with`` block on an exception or without commit) deletes the partial file.

References: NXtomo application definition, https://manual.nexusformat.org/classes/
applications/NXtomo.html; Data Exchange, De Carlo et al., J. Synchrotron Rad.
2014;21:1224.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

import h5py
import hdf5plugin
import numpy as np

from ..drivers.base import AcquisitionSettings, Frame, FrameType, ScanGeometry
from .atomic import commit_file, partial_path_for, remove_quietly, sha256_file
from .errors import AngleError, DimensionError, GeometryMissingError, MissingReferenceError
from .hdf5 import HDF5Stack, open_hdf5, read_optional, runs
from .scan import ScanData, check_scan_parts, geometry_from_mapping

__all__ = ["COMPRESSIONS", "NXtomoWriter", "WrittenScan", "read_nxtomo"]

COMPRESSIONS = ("lz4", "blosc-lz4", "blosc-zstd", "gzip")
"""Accepted ``compression`` names (``None``: uncompressed)."""

_DETECTOR = "/entry/instrument/detector"


def _filter_options(compression: str | None) -> dict:
    if compression is None:
        return {}
    if compression == "lz4":
        return dict(hdf5plugin.LZ4())
    if compression == "blosc-lz4":
        return dict(hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.SHUFFLE))
    if compression == "blosc-zstd":
        return dict(hdf5plugin.Blosc(cname="zstd", clevel=3, shuffle=hdf5plugin.Blosc.BITSHUFFLE))
    if compression == "gzip":
        return {"compression": "gzip", "compression_opts": 4, "shuffle": True}
    raise ValueError(f"compression must be None or one of {COMPRESSIONS}, got {compression!r}")


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _dataset(group: h5py.Group, name: str, value, units: str | None = None) -> h5py.Dataset:
    ds = group.create_dataset(name, data=value)
    if units is not None:
        ds.attrs["units"] = units
    return ds


def _nx_group(parent: h5py.Group, name: str, nx_class: str) -> h5py.Group:
    group = parent.create_group(name)
    group.attrs["NX_class"] = nx_class
    return group


@dataclass(frozen=True)
class WrittenScan:
    """A committed scan file: final path, sha256 (hex) and number of frames."""

    path: Path
    sha256: str
    n_frames: int
    n_bytes: int


class NXtomoWriter:
    """Stream frames into an NXtomo file; atomically visible only when committed.

    Parameters
    ----------
    path : str or pathlib.Path
        Final file name (must not exist); its folder is created.
    frame_shape : tuple of int
        ``(rows, cols)`` of every frame (binned).
    dtype : str
        Frame type, ``"uint16"`` for the 16-bit detector.
    geometry : ScanGeometry
        Nominal geometry written to the file.
    settings : AcquisitionSettings
        The protocol (source, exposure, counts) recorded beside the data.
    sample_name : str
        Written to ``/entry/sample/name``.
    compression : str or None
        One of :data:`COMPRESSIONS` (hdf5plugin filters, per-frame chunks) or ``None``.
    expected_frames : int, optional
        Frames the scan will have (pre-sizes the dataset; it grows if exceeded).

    Examples
    --------
    >>> with NXtomoWriter(path, frame_shape=(512, 512), geometry=g, settings=s,
    ...                   sample_name="mouse 12") as writer:        # doctest: +SKIP
    ...     for frame in scan_frames(driver, s):
    ...         writer.append(frame)
    ...     written = writer.commit()
    """

    def __init__(
        self,
        path: str | Path,
        *,
        frame_shape: tuple[int, int],
        dtype: str = "uint16",
        geometry: ScanGeometry,
        settings: AcquisitionSettings,
        sample_name: str,
        compression: str | None = None,
        expected_frames: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.frame_shape = tuple(int(n) for n in frame_shape)
        if len(self.frame_shape) != 2 or min(self.frame_shape) < 1:
            raise ValueError(f"frame_shape must be (rows, cols), got {frame_shape!r}")
        if (geometry.n_rows, geometry.n_cols) != self.frame_shape:
            raise ValueError(
                f"geometry is for {geometry.n_rows}×{geometry.n_cols} frames, "
                f"frame_shape is {self.frame_shape}"
            )
        self.dtype = np.dtype(dtype)
        if self.dtype.kind not in "uf":
            raise ValueError(f"dtype must be an unsigned integer or float type, got {dtype!r}")
        filters = _filter_options(compression)
        if self.path.exists():
            raise FileExistsError(f"{self.path} already exists; scan files are never replaced")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.compression = compression
        self.geometry = geometry
        self.settings = settings
        self.partial_path = partial_path_for(self.path)
        self._keys: list[int] = []
        self._angles: list[float] = []
        self._times: list[float] = []
        self._closed = False
        self._committed = False
        self._file = h5py.File(self.partial_path, "w")
        try:
            self._data = self._create_layout(sample_name, filters, expected_frames)
        except BaseException:
            self.discard()
            raise

    # -- layout -------------------------------------------------------------------
    def _create_layout(self, sample_name: str, filters: dict, expected: int | None) -> h5py.Dataset:
        f, g, s = self._file, self.geometry, self.settings
        f.attrs["default"] = "entry"
        entry = _nx_group(f, "entry", "NXentry")
        entry.attrs["default"] = "data"
        entry["definition"] = "NXtomo"
        entry["start_time"] = _now_iso()
        instrument = _nx_group(entry, "instrument", "NXinstrument")
        source = _nx_group(instrument, "source", "NXsource")
        source["type"] = "Fixed Tube X-ray"
        source["name"] = "micro-focus X-ray tube"
        source["probe"] = "x-ray"
        _dataset(source, "distance", g.sod_um, "um")
        _dataset(source, "voltage", s.kv, "kV")
        _dataset(source, "current", s.ua, "uA")
        detector = _nx_group(instrument, "detector", "NXdetector")
        rows, cols = self.frame_shape
        capacity = max(int(expected or 0), 16)
        data = detector.create_dataset(
            "data",
            shape=(capacity, rows, cols),
            maxshape=(None, rows, cols),
            chunks=(1, rows, cols),
            dtype=self.dtype,
            **filters,
        )
        data.attrs["units"] = "counts"
        data.attrs["interpretation"] = "image"
        _dataset(detector, "x_pixel_size", g.pixel_um, "um")
        _dataset(detector, "y_pixel_size", g.pixel_um, "um")
        _dataset(detector, "distance", g.sdd_um - g.sod_um, "um")
        _dataset(detector, "x_rotation_axis_pixel_position", g.axis_pixel_position, "pixel")
        _dataset(detector, "count_time", s.exposure_s, "s")
        _dataset(detector, "frame_rate", s.frame_rate_hz, "Hz")
        _dataset(detector, "binning", s.binning, "pixel")
        sample = _nx_group(entry, "sample", "NXsample")
        sample["name"] = sample_name
        notes = _nx_group(entry, "notes", "NXnote")
        notes["type"] = "application/json"
        notes["description"] = "acquisition settings (nanoscope AcquisitionSettings)"
        notes["data"] = json.dumps(asdict(s), sort_keys=True)
        return data

    # -- streaming ------------------------------------------------------------------
    @property
    def frames_written(self) -> int:
        """Number of frames appended so far."""
        return len(self._keys)

    def append(self, frame: Frame) -> None:
        """Write one frame to the file (in acquisition order).

        Raises
        ------
        ValueError
            Wrong frame shape or dtype.
        RuntimeError
            After :meth:`commit` or :meth:`discard`.
        """
        if self._closed:
            raise RuntimeError("writer is closed (committed or discarded)")
        image = frame.image
        if image.shape != self.frame_shape:
            raise ValueError(f"frame shape {image.shape} differs from {self.frame_shape}")
        if image.dtype != self.dtype:
            raise ValueError(f"frame dtype {image.dtype} differs from {self.dtype}")
        n = len(self._keys)
        if n == self._data.shape[0]:
            self._data.resize(2 * n, axis=0)
        if self.compression is None:
            self._data.id.write_direct_chunk((n, 0, 0), np.ascontiguousarray(image))
        else:
            self._data[n] = image
        self._keys.append(int(frame.kind))
        self._angles.append(float(frame.angle_deg))
        self._times.append(float(frame.timestamp_s))

    def _check_complete(self) -> None:
        keys = np.asarray(self._keys)
        for kind, label in (
            (FrameType.PROJECTION, "projections"),
            (FrameType.FLAT, "flat fields"),
            (FrameType.DARK, "dark fields"),
        ):
            if not np.any(keys == int(kind)):
                error = MissingReferenceError if kind != FrameType.PROJECTION else DimensionError
                raise error(f"{self.path.name}: no {label} written; the scan is not complete")
        angles = np.asarray(self._angles)[keys == int(FrameType.PROJECTION)]
        if np.any(np.diff(angles) <= 0):
            raise AngleError(f"{self.path.name}: projection angles do not increase")

    def commit(self) -> WrittenScan:
        """Finish the file, fsync, rename it to its final name and hash it.

        Returns
        -------
        WrittenScan

        Raises
        ------
        ScanFormatError
            The frames do not make a usable scan (the partial file is deleted).
        """
        if self._closed:
            raise RuntimeError("writer is closed (committed or discarded)")
        try:
            self._check_complete()
            self._finish_layout()
            self._file.close()
            self._closed = True
            commit_file(self.partial_path, self.path)
            self._committed = True
        except BaseException:
            self.discard()
            raise
        return WrittenScan(
            path=self.path,
            sha256=sha256_file(self.path),
            n_frames=len(self._keys),
            n_bytes=self.path.stat().st_size,
        )

    def _finish_layout(self) -> None:
        n = len(self._keys)
        self._data.resize(n, axis=0)
        f = self._file
        entry = f["entry"]
        detector = f[_DETECTOR]
        keys = np.asarray(self._keys, dtype=np.int32)
        detector.create_dataset("image_key", data=keys)
        _dataset(detector, "timestamp", np.asarray(self._times), "s")
        angles = np.asarray(self._angles, dtype=np.float64)
        _dataset(entry["sample"], "rotation_angle", angles, "deg")
        entry["end_time"] = _now_iso()
        data = _nx_group(entry, "data", "NXdata")
        data.attrs["signal"] = "data"
        data["data"] = detector["data"]
        data["rotation_angle"] = entry["sample/rotation_angle"]
        data["image_key"] = detector["image_key"]
        f["implements"] = "exchange"
        exchange = f.create_group("exchange")
        for name, kind in (("data", 0), ("data_white", 1), ("data_dark", 2)):
            self._virtual_selection(exchange, name, np.flatnonzero(keys == kind))
        _dataset(exchange, "theta", angles[keys == 0], "deg")

    def _virtual_selection(self, group: h5py.Group, name: str, indices: np.ndarray) -> None:
        rows, cols = self.frame_shape
        n_total = len(self._keys)
        layout = h5py.VirtualLayout(shape=(len(indices), rows, cols), dtype=self.dtype)
        # "." = this very file, so the links survive the rename.
        source = h5py.VirtualSource(
            ".", f"{_DETECTOR}/data", shape=(n_total, rows, cols), dtype=self.dtype
        )
        for pos, first, length in runs(indices):
            layout[pos : pos + length] = source[first : first + length]
        ds = group.create_virtual_dataset(name, layout)
        ds.attrs["units"] = "counts"

    def discard(self) -> None:
        """Abandon the scan: close and delete the partial file (idempotent)."""
        if not self._closed:
            self._closed = True
            try:
                self._file.close()
            finally:
                remove_quietly(self.partial_path)
        else:
            remove_quietly(self.partial_path)

    def __enter__(self) -> NXtomoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._committed:
            self.discard()


# -- reader -----------------------------------------------------------------------

_UM_PER_UNIT = {
    "um": 1.0,
    "µm": 1.0,
    "micron": 1.0,
    "micrometer": 1.0,
    "mm": 1e3,
    "cm": 1e4,
    "m": 1e6,
    "nm": 1e-3,
}


def length_um(group: h5py.Group, name: str) -> float | None:
    """A length dataset converted to µm from its ``units`` (µm assumed when absent).

    Raises
    ------
    GeometryMissingError
        Units that are not a length.
    """
    value = read_optional(group, name)
    if value is None:
        return None
    units = group[name].attrs.get("units", "um")
    units = units.decode() if isinstance(units, bytes) else str(units)
    if units not in _UM_PER_UNIT:
        raise GeometryMissingError(f"{group.name}/{name}: units {units!r} are not a length")
    return abs(float(np.asarray(value).ravel()[0])) * _UM_PER_UNIT[units]


def nxtomo_geometry(f: h5py.File, frame_shape: tuple[int, int], where: str) -> ScanGeometry:
    """Geometry from the NXtomo paths of ``docs/conventions.md``."""
    detector = f.get(_DETECTOR)
    source = f.get("/entry/instrument/source")
    detector = detector if isinstance(detector, h5py.Group) else None
    source = source if isinstance(source, h5py.Group) else None
    sod = None if source is None else length_um(source, "distance")
    odd = None if detector is None else length_um(detector, "distance")
    axis = None if detector is None else read_optional(detector, "x_rotation_axis_pixel_position")
    values = {
        "sod_um": sod,
        "sdd_um": None if sod is None or odd is None else sod + odd,
        "pixel_um": None if detector is None else length_um(detector, "x_pixel_size"),
        "axis_pixel_position": None if axis is None else float(axis),
    }
    return geometry_from_mapping(values, frame_shape, f"{where} (/entry/instrument)")


def _metadata(f: h5py.File) -> dict:
    meta: dict = {}
    for key, path in (
        ("kv", "/entry/instrument/source/voltage"),
        ("ua", "/entry/instrument/source/current"),
        ("exposure_s", f"{_DETECTOR}/count_time"),
    ):
        if isinstance(f.get(path), h5py.Dataset):
            meta[key] = float(f[path][()])
    if isinstance(f.get("/entry/notes/data"), h5py.Dataset):
        meta["settings"] = json.loads(f["/entry/notes/data"][()])
    if isinstance(f.get(f"{_DETECTOR}/timestamp"), h5py.Dataset):
        meta["timestamps_s"] = f[f"{_DETECTOR}/timestamp"][()]
    return meta


def read_nxtomo(path: str | Path) -> ScanData:
    """Read an NXtomo file (projections lazily).

    Parameters
    ----------
    path : str or pathlib.Path

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
        data = f.get(f"{_DETECTOR}/data")
        if not isinstance(data, h5py.Dataset):
            raise DimensionError(f"{where}: no {_DETECTOR}/data dataset (not an NXtomo scan)")
        shape = data.shape
        if len(shape) != 3:
            raise DimensionError(f"{where}: {_DETECTOR}/data must be 3-D, got shape {shape}")
        keys = read_optional(f[_DETECTOR], "image_key")
        if keys is None:
            raise MissingReferenceError(
                f"{where}: no {_DETECTOR}/image_key, flats and darks unknown"
            )
        keys = np.asarray(keys).ravel()
        if keys.size != shape[0]:
            raise DimensionError(f"{where}: {keys.size} image_key values for {shape[0]} frames")
        angles_all = (
            read_optional(f["/entry"], "sample/rotation_angle") if "/entry/sample" in f else None
        )
        if angles_all is not None:
            angles_all = np.asarray(angles_all, dtype=np.float64).ravel()
            if angles_all.size != shape[0]:
                raise AngleError(
                    f"{where}: {angles_all.size} rotation angles for {shape[0]} frames"
                )
        proj = np.flatnonzero(keys == 0)
        flat_idx, dark_idx = np.flatnonzero(keys == 1), np.flatnonzero(keys == 2)
        frame_shape = (int(shape[1]), int(shape[2]))
        angles = check_scan_parts(
            projection_shape=(len(proj), *frame_shape),
            dtype=data.dtype,
            flats_shape=(len(flat_idx), *frame_shape),
            darks_shape=(len(dark_idx), *frame_shape),
            angles_deg=None if angles_all is None else angles_all[proj],
            where=where,
        )
        geometry = nxtomo_geometry(f, frame_shape, where)
        flats, darks = data[flat_idx], data[dark_idx]
        name = read_optional(f["/entry"], "sample/name")
        meta = _metadata(f)
        dtype = data.dtype
    return ScanData(
        path=path,
        format="nxtomo",
        projections=HDF5Stack(path, f"{_DETECTOR}/data", proj, shape, dtype),
        flats=flats,
        darks=darks,
        angles_deg=angles,
        geometry=geometry,
        sample_name=name.decode() if isinstance(name, bytes) else str(name or ""),
        metadata=meta,
    )
