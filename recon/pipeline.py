"""From a raw scan file to a volume file: the reconstruction pipeline (Django-free).

The steps, each a function a notebook can call on its own:

1. :func:`preprocess_to_scratch` streams the raw projections in batches of angles through
   flat/dark normalisation, zinger and bad-pixel correction and ``−log`` into a scratch
   HDF5 file of line integrals, then removes ring artefacts sinogram by sinogram — so a
   scan larger than memory never sits in it.
2. :func:`find_scan_centre` finds the rotation-axis offset (and optionally the detector
   tilt) on the line integrals, unless the parameters give one.
3. :func:`reconstruct_to_store` reconstructs z-slab by z-slab (FDK, or SIRT/CGLS for
   small volumes), maps attenuation to mgHA/cm³ when a calibration is given, and writes
   the volume store file (with its pyramid) under a temporary name, renamed when done.

:func:`reconstruct_scan` runs the three.  The slab-parallel path (several workers, one
z-range each) calls :func:`reconstruct_slab_file` per range and
:func:`assemble_slab_files` once.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from acquisition.formats.scan import ScanData
from recon import volume_store
from recon.engine import preprocessing
from recon.engine.backends import get_backend
from recon.engine.centre import find_centre
from recon.engine.geometry import ConeBeamGeometry, VolumeGeometry, default_volume
from recon.engine.iterative import cgls, sirt
from recon.engine.projector import Projector
from recon.engine.slabs import reconstruct_in_slabs

__all__ = [
    "ALGORITHMS",
    "Calibration",
    "PipelineResult",
    "ReconstructionParameters",
    "assemble_slab_files",
    "cone_geometry",
    "find_scan_centre",
    "preprocess_to_scratch",
    "reconstruct_scan",
    "reconstruct_slab_file",
    "reconstruct_to_store",
]

ALGORITHMS = ("fdk", "sirt", "cgls")
FILTERS = ("ram-lak", "shepp-logan", "cosine", "hamming", "hann")
_ANGLE_BATCH = 32
_ROW_BLOCK = 16
_ITERATIVE_MAX_VOXELS = 256**3

Progress = Callable[[float, str], None]


def _no_progress(fraction: float, message: str) -> None:
    """Progress sink that ignores reports."""


@dataclass(frozen=True)
class ReconstructionParameters:
    """What a reconstruction is asked to do; stored with its result as provenance.

    Attributes
    ----------
    algorithm : {"fdk", "sirt", "cgls"}
    filter : str
        Ramp apodisation for FDK.
    backend : {"auto", "cpu", "gpu"}
    axis_offset_px : float or None
        Rotation-axis offset (detector columns from the centre); None finds it.
    find_tilt : bool
        Also estimate the detector tilt (otherwise the nominal 0 is used).
    remove_rings, remove_zingers : bool
        Ring (stripe) removal on sinograms; zinger removal on raw frames.
    ring_filter_size : int
        Median window (columns) of the stripe removal.
    iterations : int
        For SIRT and CGLS.
    voxel_size_um : float or None
        Reconstruction voxel; None is the detector pixel at the axis.
    z_range : (int, int) or None
        Reconstruct only slices ``z_range[0]:z_range[1]`` of the natural grid (a slab).
    """

    algorithm: str = "fdk"
    filter: str = "hann"
    backend: str = "auto"
    axis_offset_px: float | None = None
    find_tilt: bool = False
    remove_rings: bool = True
    remove_zingers: bool = True
    ring_filter_size: int = 11
    iterations: int = 40
    voxel_size_um: float | None = None
    z_range: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm: expected one of {ALGORITHMS}, got {self.algorithm!r}")
        if self.filter not in FILTERS:
            raise ValueError(f"filter: expected one of {FILTERS}, got {self.filter!r}")
        if self.backend not in ("auto", "cpu", "gpu"):
            raise ValueError(f"backend: expected auto, cpu or gpu, got {self.backend!r}")
        if self.iterations < 1:
            raise ValueError(f"iterations: must be at least 1, got {self.iterations}")
        if self.ring_filter_size < 3 or self.ring_filter_size % 2 == 0:
            raise ValueError("ring_filter_size: must be an odd number ≥ 3")
        if self.voxel_size_um is not None and not self.voxel_size_um > 0:
            raise ValueError(f"voxel_size_um: must be positive, got {self.voxel_size_um}")
        if self.axis_offset_px is not None and not math.isfinite(self.axis_offset_px):
            raise ValueError("axis_offset_px: must be finite")
        if self.z_range is not None:
            start, stop = (int(v) for v in self.z_range)
            if not 0 <= start < stop:
                raise ValueError(f"z_range: need 0 ≤ start < stop, got {self.z_range!r}")
            object.__setattr__(self, "z_range", (start, stop))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ReconstructionParameters:
        """Build from stored JSON; unknown keys are an error naming them."""
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"parameters: unknown {sorted(unknown)}")
        values = dict(values)
        if values.get("z_range") is not None:
            values["z_range"] = tuple(values["z_range"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form."""
        values = asdict(self)
        if self.z_range is not None:
            values["z_range"] = list(self.z_range)
        return values


@dataclass(frozen=True)
class Calibration:
    """Linear HA calibration ``density_mgha_cm3 = slope · mu_per_cm + intercept``."""

    slope: float
    intercept: float

    @classmethod
    def from_attenuation_line(
        cls, intercept_per_cm: float, slope_per_cm_per_mgha: float
    ) -> Calibration:
        """The inverse of an instrument's ``μ = a + b·ρ`` (``a`` in 1/cm, ``b`` in 1/cm per
        mgHA/cm³): ``ρ = (μ − a) / b``."""
        slope = 1.0 / slope_per_cm_per_mgha
        return cls(slope=slope, intercept=-intercept_per_cm * slope)

    def apply(self, mu_per_cm: np.ndarray) -> np.ndarray:
        """Attenuation (1/cm) → mgHA/cm³, float32."""
        return (mu_per_cm * np.float32(self.slope) + np.float32(self.intercept)).astype(
            np.float32, copy=False
        )


@dataclass(frozen=True)
class PipelineResult:
    """What :func:`reconstruct_scan` did, for the reconstruction record."""

    sha256: str
    shape: tuple[int, int, int]
    voxel_size_um: float
    units: str
    axis_offset_px: float
    detector_tilt_deg: float
    centre_source: str
    backend: str
    timings_s: dict[str, float] = field(default_factory=dict)


def cone_geometry(
    scan: ScanData, axis_offset_px: float | None = None, tilt_deg: float = 0.0
) -> ConeBeamGeometry:
    """The engine's geometry of a scan; the nominal axis column unless an offset is given.

    Parameters
    ----------
    scan : ScanData
    axis_offset_px : float, optional
        Axis offset from the detector centre column, pixels (positive: towards higher
        columns).  Default: the file's nominal axis column.
    tilt_deg : float
        Detector tilt in its plane, degrees.
    """
    g = scan.geometry
    if axis_offset_px is None:
        axis_offset_px = g.axis_pixel_position - (g.n_cols - 1) / 2
    return ConeBeamGeometry(
        detector_shape=(g.n_rows, g.n_cols),
        pixel_um=g.pixel_um,
        angles_deg=scan.angles_deg,
        sod_um=g.sod_um,
        sdd_um=g.sdd_um,
        offset_u_um=-axis_offset_px * g.pixel_um,
        detector_tilt_deg=tilt_deg,
    )


def _check_not_saturated(flats: np.ndarray, max_fraction: float = 0.01) -> None:
    """Refuse flats clipped at the detector's full scale (their −log would be meaningless)."""
    flats = np.asarray(flats)
    if flats.dtype.kind != "u":
        return
    full_scale = np.iinfo(flats.dtype).max
    fraction = float(np.mean(flats >= full_scale))
    if fraction > max_fraction:
        raise ValueError(
            f"flats: {fraction:.0%} of flat-field pixels are saturated at {full_scale}; "
            "lower the source current or exposure"
        )


def preprocess_to_scratch(
    scan: ScanData,
    scratch_path: str | Path,
    params: ReconstructionParameters,
    progress: Progress = _no_progress,
) -> Path:
    """Write the scan's line integrals ``−log((I − D)/(F − D))`` to an HDF5 file.

    Parameters
    ----------
    scan : ScanData
        Raw counts, flats and darks.
    scratch_path : path
        File to write; dataset ``/line_integrals`` ``[n_angles, rows, cols]`` float32,
        chunked so that both angle batches and detector-row blocks read quickly.
    params : ReconstructionParameters
    progress : callable(fraction, message)

    Returns
    -------
    pathlib.Path
        ``scratch_path``.

    Raises
    ------
    ValueError
        Flats or darks missing or of the wrong shape, flat − dark ≤ 0 (from
        :func:`recon.engine.preprocessing.normalize`).
    """
    scratch_path = Path(scratch_path)
    n, rows, cols = scan.projections.shape
    _check_not_saturated(scan.flats)
    flats = np.asarray(scan.flats, dtype=np.float32).mean(axis=0)
    darks = np.asarray(scan.darks, dtype=np.float32).mean(axis=0)
    bad = preprocessing.find_bad_pixels(flats, darks)
    if bad.any():
        # Dead pixels have flat − dark ≤ 0: mend the references as well as the frames.
        flats = preprocessing.correct_bad_pixels(flats, bad)
        darks = preprocessing.correct_bad_pixels(darks, bad)
    with h5py.File(scratch_path, "w") as f:
        out = f.create_dataset(
            "line_integrals",
            shape=(n, rows, cols),
            dtype=np.float32,
            chunks=(min(_ANGLE_BATCH, n), min(_ROW_BLOCK, rows), cols),
        )
        for a0 in range(0, n, _ANGLE_BATCH):
            raw = np.asarray(scan.projections[a0 : a0 + _ANGLE_BATCH], dtype=np.float32)
            if params.remove_zingers:
                raw = preprocessing.remove_zingers(raw)
            if bad.any():
                raw = preprocessing.correct_bad_pixels(raw, bad)
            transmission = preprocessing.normalize(raw, flats, darks)
            out[a0 : a0 + len(raw)] = preprocessing.minus_log(transmission)
            progress(0.5 * (a0 + len(raw)) / n, "normalising projections")
        if params.remove_rings:
            for r0 in range(0, rows, _ROW_BLOCK):
                block = out[:, r0 : r0 + _ROW_BLOCK, :]
                out[:, r0 : r0 + _ROW_BLOCK, :] = preprocessing.remove_stripes(
                    block, size=params.ring_filter_size
                )
                progress(0.5 + 0.5 * min(r0 + _ROW_BLOCK, rows) / rows, "removing rings")
    return scratch_path


def find_scan_centre(
    line_integrals, scan: ScanData, params: ReconstructionParameters
) -> tuple[ConeBeamGeometry, str]:
    """The geometry to reconstruct with, and where its centre came from.

    Returns
    -------
    geometry : ConeBeamGeometry
    centre_source : {"given", "found"}
    """
    if params.axis_offset_px is not None and not params.find_tilt:
        return cone_geometry(scan, params.axis_offset_px), "given"
    estimate = find_centre(line_integrals, cone_geometry(scan), tilt=params.find_tilt)
    offset = estimate.axis_offset_px if params.axis_offset_px is None else params.axis_offset_px
    source = "found" if params.axis_offset_px is None else "given"
    return cone_geometry(scan, offset, estimate.detector_tilt_deg), source


def volume_grid(geometry: ConeBeamGeometry, params: ReconstructionParameters) -> VolumeGeometry:
    """The reconstruction grid: the natural grid, rescaled and cut to ``z_range``."""
    grid = default_volume(geometry)
    if params.voxel_size_um is not None:
        scale = grid.voxel_um / params.voxel_size_um
        shape = tuple(max(1, round(s * scale)) for s in grid.shape)
        grid = VolumeGeometry(shape, params.voxel_size_um)
    if params.z_range is not None:
        start, stop = params.z_range
        if stop > grid.shape[0]:
            raise ValueError(f"z_range: stop {stop} beyond the volume's {grid.shape[0]} slices")
        grid = grid.slab(start, stop)
    return grid


def _reconstruct_grid(
    line_integrals,
    geometry: ConeBeamGeometry,
    grid: VolumeGeometry,
    params: ReconstructionParameters,
    sink: Callable[[int, np.ndarray], None],
    progress: Progress,
) -> None:
    """Reconstruct ``grid`` and hand it to ``sink`` slab by slab (FDK) or whole."""
    if params.algorithm == "fdk":
        reconstruct_in_slabs(
            line_integrals,
            geometry,
            grid,
            sink=sink,
            progress=lambda fraction: progress(fraction, "reconstructing"),
            filter=params.filter,
            backend=params.backend,
        )
        return
    if math.prod(grid.shape) > _ITERATIVE_MAX_VOXELS:
        raise ValueError(
            f"algorithm: {params.algorithm} holds the whole volume and its projections in "
            f"memory; {grid.shape} is larger than the {_ITERATIVE_MAX_VOXELS} voxels allowed "
            "(use fdk, or a z_range)"
        )
    projections = np.asarray(line_integrals[...], dtype=np.float32)
    projector = Projector(geometry, grid, backend=params.backend)
    solve = sirt if params.algorithm == "sirt" else cgls
    result = solve(projector, projections, params.iterations)
    progress(1.0, "reconstructing")
    sink(0, result.volume)


def reconstruct_to_store(
    line_integrals,
    geometry: ConeBeamGeometry,
    out_path: str | Path,
    params: ReconstructionParameters,
    *,
    calibration: Calibration | None = None,
    provenance: dict[str, Any] | None = None,
    progress: Progress = _no_progress,
) -> tuple[str, VolumeGeometry]:
    """Reconstruct and write one volume file; return its sha256 and grid.

    Values are mgHA/cm³ when ``calibration`` is given, else 1/cm.
    """
    grid = volume_grid(geometry, params)
    units = "mgHA/cm3" if calibration else "1/cm"
    with volume_store.VolumeWriter(
        out_path,
        grid.shape,
        grid.voxel_um,
        units,
        calibration=asdict(calibration) if calibration else None,
        provenance=provenance,
    ) as writer:

        def sink(start: int, slab: np.ndarray) -> None:
            writer.write_slab(start, calibration.apply(slab) if calibration else slab)

        _reconstruct_grid(line_integrals, geometry, grid, params, sink, progress)
    return writer.sha256, grid


def reconstruct_scan(
    scan: ScanData,
    out_path: str | Path,
    params: ReconstructionParameters,
    *,
    scratch_dir: str | Path,
    calibration: Calibration | None = None,
    provenance: dict[str, Any] | None = None,
    progress: Progress = _no_progress,
) -> PipelineResult:
    """Preprocess, find the centre, reconstruct and store one scan.

    Parameters
    ----------
    scan : ScanData
    out_path : path
        The volume file to write (appears only when complete).
    params : ReconstructionParameters
    scratch_dir : path
        Where the line-integral scratch file goes (removed afterwards).
    calibration : Calibration, optional
    provenance : dict, optional
        Stored in the volume file, completed with the centre and backend used.
    progress : callable(fraction, message)
    """
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    scratch = Path(scratch_dir) / f"{Path(out_path).stem}.line-integrals.h5"
    try:
        preprocess_to_scratch(scan, scratch, params, lambda f, m: progress(0.3 * f, m))
        timings["preprocess_s"] = time.perf_counter() - t0
        with h5py.File(scratch, "r") as f:
            line_integrals = f["line_integrals"]
            t1 = time.perf_counter()
            geometry, centre_source = find_scan_centre(line_integrals, scan, params)
            timings["centre_s"] = time.perf_counter() - t1
            offset_px = -geometry.offset_u_um / geometry.pixel_um
            backend = get_backend(params.backend).name
            record = {
                **(provenance or {}),
                "parameters": params.to_dict(),
                "axis_offset_px": offset_px,
                "detector_tilt_deg": geometry.detector_tilt_deg,
                "centre_source": centre_source,
                "backend": backend,
            }
            t2 = time.perf_counter()
            sha256, grid = reconstruct_to_store(
                line_integrals,
                geometry,
                out_path,
                params,
                calibration=calibration,
                provenance=record,
                progress=lambda f, m: progress(0.3 + 0.7 * f, m),
            )
            timings["reconstruct_s"] = time.perf_counter() - t2
    finally:
        scratch.unlink(missing_ok=True)
    timings["total_s"] = time.perf_counter() - t0
    return PipelineResult(
        sha256=sha256,
        shape=grid.shape,
        voxel_size_um=grid.voxel_um,
        units="mgHA/cm3" if calibration else "1/cm",
        axis_offset_px=offset_px,
        detector_tilt_deg=geometry.detector_tilt_deg,
        centre_source=centre_source,
        backend=backend,
        timings_s=timings,
    )


# -- slab-parallel reconstruction ---------------------------------------------------------


def reconstruct_slab_file(
    line_integrals_path: str | Path,
    geometry: ConeBeamGeometry,
    params: ReconstructionParameters,
    z_range: tuple[int, int],
    out_path: str | Path,
    *,
    calibration: Calibration | None = None,
) -> Path:
    """Reconstruct slices ``z_range`` of the full grid into a plain HDF5 slab file.

    The file (dataset ``/slab`` ``[nz, ny, nx]`` float32, attribute ``z_start``) is
    written under a temporary name and renamed, so an assembler never reads half a slab.
    """
    out_path = Path(out_path)
    slab_params = replace(params, z_range=tuple(z_range), algorithm="fdk")
    grid = volume_grid(geometry, slab_params)
    tmp = out_path.with_name(out_path.name + ".partial")
    try:
        with h5py.File(line_integrals_path, "r") as src, h5py.File(tmp, "w") as dst:
            data = dst.create_dataset("slab", shape=grid.shape, dtype=np.float32)
            data.attrs["z_start"] = z_range[0]

            def sink(start: int, slab: np.ndarray) -> None:
                data[start : start + len(slab)] = calibration.apply(slab) if calibration else slab

            _reconstruct_grid(
                src["line_integrals"], geometry, grid, slab_params, sink, _no_progress
            )
        tmp.replace(out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out_path


def assemble_slab_files(
    slab_paths: list[str | Path],
    shape: tuple[int, int, int],
    voxel_size_um: float,
    out_path: str | Path,
    *,
    calibration: Calibration | None = None,
    provenance: dict[str, Any] | None = None,
) -> str:
    """Write the slab files, in any order, as one volume store file; return its sha256.

    Raises
    ------
    ValueError
        When the slabs do not cover every slice exactly once (the volume writer refuses
        incomplete volumes; overlaps are refused here).
    """
    seen = np.zeros(shape[0], dtype=np.int32)
    with volume_store.VolumeWriter(
        out_path,
        shape,
        voxel_size_um,
        "mgHA/cm3" if calibration else "1/cm",
        calibration=asdict(calibration) if calibration else None,
        provenance=json.loads(json.dumps(provenance or {}, default=str)),
    ) as writer:
        for path in slab_paths:
            with h5py.File(path, "r") as f:
                start = int(f["slab"].attrs["z_start"])
                slab = f["slab"][...]
            seen[start : start + len(slab)] += 1
            if seen.max() > 1:
                raise ValueError(f"slab_paths: {path} overlaps another slab at z={start}")
            writer.write_slab(start, slab)
    return writer.sha256
