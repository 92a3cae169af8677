"""From grey values to stored figures: the analyses' settings and measuring steps.

Plain numpy in, figures out, over the core in :mod:`analysis` (no Django, no files):
:func:`normalise_parameters` checks and completes the settings an analysis job stores;
:func:`measure_static` segments a volume, separates its compartments and measures the
trabecular, cortical and density panel; :func:`measure_remodelling_pair` registers a
follow-up onto its baseline, resamples it once and classifies formed and resorbed bone.
:mod:`analysis.jobs` reads the volumes and stores what these return.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from .morphometry import cortical_geometry, mineral_density, static_morphometry
from .registration import (
    RegistrationParameters,
    RegistrationResult,
    register_rigid,
    resample_onto,
)
from .remodelling import RemodellingParameters, RemodellingResult, analyse_remodelling
from .segmentation import (
    SegmentationParameters,
    segment_bone,
    separate_compartments,
    slab_region,
)

__all__ = [
    "MEDULLARY",
    "NO_CORTEX",
    "SECTIONS",
    "WHOLE_REGION",
    "MorphometryOptions",
    "RegionParameters",
    "RemodellingFigures",
    "StaticFigures",
    "finite_or_none",
    "measure_remodelling_pair",
    "measure_static",
    "normalise_parameters",
    "regions_of",
]

Progress = Callable[[float, str], None]
"""``progress(fraction, message)``, called between steps (it may raise to cancel)."""

WHOLE_REGION = "whole region"
MEDULLARY = "medullary compartment"
NO_CORTEX = "whole region (no cortex found)"


# -- parameters ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RegionParameters:
    """Where the parameters are measured.

    Attributes
    ----------
    compartments : {"auto", "none"}
        ``auto``: separate the cortical and trabecular compartments
        (:func:`analysis.segmentation.separate_compartments`); the trabecular panel is
        measured in the medullary compartment, the cortical one on the cortex. Where no
        medullary compartment holds bone and marrow (a core without cortex), the whole
        region is the trabecular VOI (recorded on the result). ``none``: the whole
        region is the trabecular VOI and no cortical figures are computed.
    slab : [start, stop] or None
        z-planes ``start <= z < stop`` of the full-resolution volume; None: all planes.
    close_radius_vox : int
        Disk radius closing the periosteal surface (voxels).
    marrow_close_radius_vox : int or None
        Disk radius of the marrow closing that finds the endosteal surface (voxels);
        None: 1.5 times the measured cortical thickness.
    """

    compartments: str = "auto"
    slab: tuple[int, int] | None = None
    close_radius_vox: int = 3
    marrow_close_radius_vox: int | None = None

    def __post_init__(self) -> None:
        if self.compartments not in ("auto", "none"):
            raise ValueError(f"compartments must be 'auto' or 'none', got {self.compartments!r}")
        if self.slab is not None:
            slab = tuple(self.slab)
            if len(slab) != 2 or not all(isinstance(v, int) for v in slab):
                raise ValueError(f"slab must be [start, stop] (integers), got {self.slab!r}")
            if not 0 <= slab[0] < slab[1]:
                raise ValueError(f"slab must satisfy 0 <= start < stop, got {list(slab)}")
            object.__setattr__(self, "slab", slab)
        for name in ("close_radius_vox", "marrow_close_radius_vox"):
            value = getattr(self, name)
            if value is None and name == "marrow_close_radius_vox":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class MorphometryOptions:
    """Options of the static panel (:func:`analysis.morphometry.static_morphometry`).

    Attributes
    ----------
    subvoxel : bool
        Sub-voxel local thickness (default) or the exact digital definition.
    surface_sigma_vox : float
        Gaussian smoothing before meshing BS and SMI (voxels).
    """

    subvoxel: bool = True
    surface_sigma_vox: float = 0.8

    def __post_init__(self) -> None:
        if not isinstance(self.subvoxel, bool):
            raise ValueError(f"subvoxel must be true or false, got {self.subvoxel!r}")
        if not isinstance(self.surface_sigma_vox, int | float) or self.surface_sigma_vox < 0:
            raise ValueError(f"surface_sigma_vox must be >= 0, got {self.surface_sigma_vox!r}")


#: Sections of the parameters of each kind of analysis.
SECTIONS = {
    "morphometry": ("segmentation", "regions", "morphometry"),
    "remodelling": ("segmentation", "regions", "registration", "remodelling"),
}


def _section(name: str, values: dict[str, Any]) -> dict[str, Any]:
    """Validate one section through the core's own settings class; return it complete."""
    if not isinstance(values, dict):
        raise ValueError(f"parameters.{name} must be an object")
    try:
        if name == "segmentation":
            return SegmentationParameters(**values).to_dict()
        if name == "regions":
            out = asdict(RegionParameters(**values))
            out["slab"] = list(out["slab"]) if out["slab"] is not None else None
            return out
        if name == "morphometry":
            return asdict(MorphometryOptions(**values))
        if name == "registration":
            return RegistrationParameters.from_dict(values).to_dict()
        # Remodelling: a threshold of None means "the baseline's segmentation threshold".
        threshold = values.get("threshold")
        probe = {**values, "threshold": 0.0 if threshold is None else threshold}
        out = RemodellingParameters.from_dict(probe).to_dict()
        out["threshold"] = threshold
        return out
    except TypeError as exc:
        raise ValueError(f"parameters.{name}: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"parameters.{name}: {exc}") from None


def normalise_parameters(kind: str, parameters: dict[str, Any] | None) -> dict[str, Any]:
    """Check an analysis' parameters and fill in every default.

    Parameters
    ----------
    kind : {"morphometry", "remodelling"}
    parameters : dict, optional
        Sections (see :data:`SECTIONS`) of settings; missing sections and keys take the
        core's defaults.

    Returns
    -------
    dict
        Every section of ``kind`` with every setting, ready to store.

    Raises
    ------
    ValueError
        Unknown kind, section or setting, or a value the core refuses; the message
        names it.
    """
    if kind not in SECTIONS:
        raise ValueError(f"kind must be one of {sorted(SECTIONS)}, got {kind!r}")
    parameters = parameters or {}
    if not isinstance(parameters, dict):
        raise ValueError("parameters must be an object of sections")
    unknown = sorted(set(parameters) - set(SECTIONS[kind]))
    if unknown:
        raise ValueError(f"parameters: unknown section(s) {unknown} for {kind}")
    return {name: _section(name, parameters.get(name) or {}) for name in SECTIONS[kind]}


# -- measuring ----------------------------------------------------------------------------


def _segment(grey: np.ndarray, units: str, settings: dict[str, Any]):
    if settings["threshold_mgha_cm3"] is not None and units != "mgHA/cm3":
        raise ValueError(
            "parameters.segmentation.threshold_mgha_cm3 needs a calibrated volume "
            f"(mgHA/cm3); this one is in {units}: leave it null for Otsu's threshold"
        )
    return segment_bone(grey, SegmentationParameters(**settings))


def regions_of(
    bone: np.ndarray, settings: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray | None, str]:
    """The trabecular VOI and the cortical bone of a segmented volume.

    Parameters
    ----------
    bone : (nz, ny, nx) ndarray of bool
        Segmented bone, shaft along z.
    settings : dict
        The ``regions`` section of the parameters (see
        :class:`RegionParameters`).

    Returns
    -------
    voi : (nz, ny, nx) ndarray of bool
        Trabecular volume of interest (TV).
    cortex : (nz, ny, nx) ndarray of bool or None
        Cortical bone (None when compartments are off or no cortex was found).
    voi_name : str
        Which VOI was used: :data:`MEDULLARY`, :data:`WHOLE_REGION` or :data:`NO_CORTEX`.

    Raises
    ------
    ValueError
        If the slab lies outside the volume.
    """
    if settings["slab"] is None:
        region = np.ones(bone.shape, dtype=bool)
    else:
        try:
            region = slab_region(bone.shape, *settings["slab"])
        except ValueError as exc:
            raise ValueError(f"parameters.regions.slab: {exc}") from None
    if settings["compartments"] == "none":
        return region, None, WHOLE_REGION
    parts = separate_compartments(
        bone & region,
        close_radius_vox=settings["close_radius_vox"],
        marrow_close_radius_vox=settings.get("marrow_close_radius_vox"),
    )
    voi = parts.trabecular & region
    cortex = bone & parts.cortical & region
    cortex = cortex if cortex.any() else None
    if not (bone & voi).any() or not (voi & ~bone).any():
        return region, None, NO_CORTEX
    return voi, cortex, MEDULLARY


@dataclass(frozen=True)
class StaticFigures:
    """What :func:`measure_static` found.

    Attributes
    ----------
    values : dict of str to float or None
        The figures under their result-column names (``bv_tv``, ``tb_th_um``,
        ``ct_th_um``, …); None where not measurable (NaN, no cortex, no calibration).
    details : dict
        Further figures (Δχ, fabric eigenvalues in µm, VOI voxels, …).
    threshold : float
        Segmentation threshold applied (volume units).
    threshold_method : {"fixed", "otsu"}
    trabecular_voi : str
        :data:`MEDULLARY`, :data:`WHOLE_REGION` or :data:`NO_CORTEX`.
    labels : (nz, ny, nx) ndarray of uint8
        What was measured where, one class per voxel (:attr:`LABEL_NAMES`): trabecular
        bone (its count × voxel volume is BV), marrow (trabecular bone + marrow is TV),
        cortical bone (where measured), other segmented bone; 0 elsewhere.
    """

    #: Classes of :attr:`labels` (value → name); 0 is background.
    LABEL_NAMES: ClassVar[dict[int, str]] = {
        0: "background",
        1: "trabecular bone",
        2: "cortical bone",
        3: "marrow",
        4: "other bone",
    }

    values: dict[str, float | None]
    details: dict[str, Any]
    threshold: float
    threshold_method: str
    trabecular_voi: str
    labels: np.ndarray


def measure_static(
    grey: np.ndarray,
    voxel_um: float,
    units: str,
    parameters: dict[str, Any],
    progress: Progress | None = None,
) -> StaticFigures:
    """Segment a volume and measure its trabecular and cortical panel.

    Parameters
    ----------
    grey : (nz, ny, nx) ndarray
        Grey values (mgHA/cm³ when ``units`` is ``"mgHA/cm3"``, else 1/cm).
    voxel_um : float
        Isotropic voxel size (µm).
    units : {"1/cm", "mgHA/cm3"}
    parameters : dict
        Normalised morphometry parameters (:func:`analysis.models.normalise_parameters`).
    progress : callable, optional
        ``progress(fraction, message)`` between steps (may raise to cancel).

    Returns
    -------
    StaticFigures

    Raises
    ------
    ValueError
        A fixed threshold on an uncalibrated volume, a slab outside the volume, or a
        VOI without bone or marrow.
    """
    report = progress or (lambda fraction, message: None)
    report(0.1, "segmenting")
    seg = _segment(grey, units, parameters["segmentation"])
    report(0.2, "separating compartments")
    voi, cortex, voi_name = regions_of(seg.bone, parameters["regions"])
    report(0.3, "trabecular panel")
    calibrated = units == "mgHA/cm3"
    options = parameters["morphometry"]
    panel = static_morphometry(
        seg.bone,
        voxel_um,
        region=voi,
        density_mgha_cm3=grey if calibrated else None,
        subvoxel=options["subvoxel"],
        surface_sigma_vox=options["surface_sigma_vox"],
    )
    values: dict[str, float | None] = {
        name: getattr(panel, name)
        for name in (
            "tv_mm3", "bv_mm3", "bv_tv", "bs_mm2", "bs_bv_per_mm", "bs_tv_per_mm",
            "tb_th_um", "tb_th_sd_um", "tb_th_max_um", "tb_sp_um", "tb_sp_sd_um",
            "tb_sp_max_um", "tb_n_per_mm", "tb_n_plate_model_per_mm", "conn_d_per_mm3",
            "smi", "da", "bmd_mgha_cm3", "tmd_mgha_cm3",
        )
    }  # fmt: skip
    details: dict[str, Any] = {
        "euler_delta": finite_or_none(panel.euler_delta),  # JSON has no inf or NaN
        "fabric_eigenvalues_um": [finite_or_none(v) for v in panel.fabric_eigenvalues],
        "thickness_method": panel.thickness_method,
        "surface_sigma_vox": panel.surface_sigma_vox,
        "voi_voxels": int(np.count_nonzero(voi)),
    }
    if cortex is not None:
        report(0.8, "cortical geometry")
        cortical = cortical_geometry(cortex, voxel_um, subvoxel=options["subvoxel"])
        values.update(
            {k: v for k, v in cortical.to_dict().items() if k != "n_slices"},
        )
        details["cortical_slices"] = cortical.n_slices
        if calibrated:
            values["ct_tmd_mgha_cm3"] = mineral_density(grey, cortex, cortex)[1]
    # Trabecular classes last, so that their counts are exactly BV and TV − BV.
    labels = np.zeros(seg.bone.shape, dtype=np.uint8)
    labels[seg.bone] = 4
    if cortex is not None:
        labels[cortex] = 2
    labels[voi & ~seg.bone] = 3
    labels[voi & seg.bone] = 1
    return StaticFigures(
        values={k: finite_or_none(v) for k, v in values.items()},
        details=details,
        threshold=seg.threshold,
        threshold_method=seg.method,
        trabecular_voi=voi_name,
        labels=labels,
    )


@dataclass(frozen=True)
class RemodellingFigures:
    """What :func:`measure_remodelling_pair` found.

    Attributes
    ----------
    registration : analysis.registration.RegistrationResult
        Transform (baseline → follow-up) and quality figures.
    registered : (nz, ny, nx) ndarray
        The follow-up resampled onto the baseline grid (cubic B-spline, once).
    remodelling : analysis.remodelling.RemodellingResult
        Labels and the dynamic parameters.
    threshold : float
        Bone threshold applied (volume units).
    analysed_region : str
        :data:`MEDULLARY`, :data:`WHOLE_REGION` or :data:`NO_CORTEX` (of the baseline).
    """

    registration: RegistrationResult
    registered: np.ndarray
    remodelling: RemodellingResult
    threshold: float
    analysed_region: str


def measure_remodelling_pair(
    baseline: np.ndarray,
    followup: np.ndarray,
    voxel_um: float,
    units: str,
    interval_days: float,
    parameters: dict[str, Any],
    progress: Progress | None = None,
    region: np.ndarray | None = None,
) -> RemodellingFigures:
    """Register a follow-up onto its baseline, resample it once, classify and measure.

    Parameters
    ----------
    baseline, followup : (nz, ny, nx) ndarray
        Grey values of the two scans (same voxel size and units).
    voxel_um : float
        Isotropic voxel size (µm).
    units : {"1/cm", "mgHA/cm3"}
    interval_days : float
        Days between the scans, > 0.
    parameters : dict
        Normalised remodelling parameters. A remodelling ``threshold`` of None takes
        the baseline's segmentation threshold; ``formation_threshold`` and
        ``density_change`` (mgHA/cm³) apply to calibrated volumes only; the analysed
        region is the baseline's trabecular VOI (see :func:`regions_of`).
    progress : callable, optional
    region : (nz, ny, nx) ndarray of bool, optional
        A user-defined VOI on the baseline grid, used instead of the automatic one.

    Returns
    -------
    RemodellingFigures
    """
    report = progress or (lambda fraction, message: None)
    report(0.05, "segmenting the baseline")
    seg = _segment(baseline, units, parameters["segmentation"])
    if region is None:
        voi, _, region_name = regions_of(seg.bone, parameters["regions"])
    else:
        voi, region_name = np.asarray(region, dtype=bool), "user mask"
        if voi.shape != baseline.shape:
            raise ValueError(
                f"region: shape {voi.shape} differs from the volume's {baseline.shape}"
            )
    report(0.15, "registering")
    registration = register_rigid(
        baseline,
        followup,
        voxel_um,
        parameters=RegistrationParameters.from_dict(parameters["registration"]),
    )
    report(0.6, "resampling the follow-up")
    # Cubic B-spline: trilinear resampling smooths once more and loses thin layers.
    registered = resample_onto(followup, registration.transform, baseline.shape, voxel_um, order=3)
    settings = dict(parameters["remodelling"])
    if settings["threshold"] is None:
        settings["threshold"] = seg.threshold
    if units != "mgHA/cm3":
        # The formation threshold and density change are mineral densities: on an
        # uncalibrated volume only the bone threshold applies (and is recorded so).
        settings["formation_threshold"] = settings["density_change"] = None
    report(0.7, "classifying formed and resorbed bone")
    result = analyse_remodelling(
        baseline,
        registered,
        voxel_um,
        interval_days,
        RemodellingParameters.from_dict(settings),
        mask=None if voi.all() else voi,
    )
    return RemodellingFigures(
        registration=registration,
        registered=registered,
        remodelling=result,
        threshold=float(settings["threshold"]),
        analysed_region=region_name,
    )


def finite_or_none(value) -> float | None:
    """``value`` as a float, or None where it is missing, NaN or infinite."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
