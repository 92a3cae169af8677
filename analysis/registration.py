"""Rigid 3-D registration of a follow-up scan onto its baseline.

Time-lapsed in-vivo micro-CT compares two scans of the same bone voxel by voxel, so
the follow-up grey-value volume is first aligned rigidly onto the baseline
(Schulte et al. 2011; Birkhold et al. 2014): a 3-D Euler transform (three rotation
angles, a translation) is found by maximising Mattes mutual information (or the
normalised correlation) over a multi-resolution pyramid, then the follow-up is
resampled once onto the baseline grid.

Coordinates follow ``docs/conventions.md``: arrays are ``[z, y, x]``, voxels are
isotropic (``voxel_um``) and the centre of the array is the origin of the physical
frame, so voxel ``(k, j, i)`` lies at ``x = (i - (nx - 1) / 2) * voxel_um`` and so on.
Points and matrices are written in ``(x, y, z)`` order, in micrometres.

A transform maps a point of the *baseline* (fixed) frame to the *follow-up*
(moving) frame, ``p_followup = R (p_baseline - c) + c + t``, which is the direction
resampling needs: the follow-up grey value shown at a baseline voxel is read at the
transformed point.

References
----------
.. [1] Schulte FA, Lambers FM, Kuhn G, Müller R. In vivo micro-computed tomography
   allows direct three-dimensional quantification of both bone formation and bone
   resorption parameters using time-lapsed imaging. Bone 2011;48:433-442.
.. [2] Mattes D, Haynor DR, Vesselle H, Lewellen TK, Eubank W. PET-CT image
   registration in the chest using free-form deformations. IEEE TMI 2003;22:120-128.
.. [3] Lan S et al. 3D image registration is critical to ensure accurate detection
   of longitudinal changes in trabecular bone density, microstructure, and stiffness
   measurements in rat tibiae by in vivo micro computed tomography. Bone 2013;56:83-90.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import SimpleITK as sitk

__all__ = [
    "RegistrationParameters",
    "RegistrationResult",
    "RigidTransform",
    "register_rigid",
    "resample_onto",
]


@dataclass(frozen=True)
class RigidTransform:
    """A rigid transform from the baseline frame to the follow-up frame.

    ``p_followup = R (p_baseline - centre_um) + centre_um + translation_um`` with
    ITK's Euler convention ``R = Rz Rx Ry`` (rotation about y first, then x, then
    z; counter-clockwise seen from the axis' positive end), points in ``(x, y, z)`` µm.

    Attributes
    ----------
    angles_deg : tuple of 3 float
        Rotation angles about the x, y and z axes (degrees).
    translation_um : tuple of 3 float
        Translation ``(tx, ty, tz)`` in µm.
    centre_um : tuple of 3 float
        Centre of rotation ``(x, y, z)`` in µm (the array centre is the origin).
    """

    angles_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    translation_um: tuple[float, float, float] = (0.0, 0.0, 0.0)
    centre_um: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        for name in ("angles_deg", "translation_um", "centre_um"):
            value = tuple(float(v) for v in getattr(self, name))
            if len(value) != 3 or not all(np.isfinite(value)):
                raise ValueError(f"{name} must be three finite numbers, got {value!r}")
            object.__setattr__(self, name, value)

    @property
    def parameters(self) -> tuple[float, ...]:
        """The six free parameters: angles (deg) then translation (µm)."""
        return self.angles_deg + self.translation_um

    @property
    def rotation(self) -> np.ndarray:
        """The 3×3 rotation matrix ``R`` acting on ``(x, y, z)``."""
        return np.array(self.to_sitk().GetMatrix(), dtype=float).reshape(3, 3)

    @property
    def matrix(self) -> np.ndarray:
        """The 4×4 homogeneous matrix acting on ``(x, y, z, 1)`` in µm."""
        rotation = self.rotation
        centre = np.asarray(self.centre_um)
        out = np.eye(4)
        out[:3, :3] = rotation
        out[:3, 3] = centre + np.asarray(self.translation_um) - rotation @ centre
        return out

    def apply(self, points_um: np.ndarray) -> np.ndarray:
        """Map points ``(..., 3)`` in ``(x, y, z)`` µm from baseline to follow-up frame."""
        points = np.asarray(points_um, dtype=float)
        if points.shape[-1:] != (3,):
            raise ValueError(f"points_um must have shape (..., 3), got {points.shape}")
        m = self.matrix
        return points @ m[:3, :3].T + m[:3, 3]

    def inverse(self) -> RigidTransform:
        """The transform from the follow-up frame back to the baseline frame."""
        euler = sitk.Euler3DTransform()
        euler.SetCenter(self.centre_um)
        rotation = self.rotation
        euler.SetMatrix(rotation.T.ravel().tolist())
        # Keep the centre: R^T (q - c) + c + t' must equal R^T (q - c - t) + c.
        euler.SetTranslation((-rotation.T @ np.asarray(self.translation_um)).tolist())
        return RigidTransform.from_sitk(euler)

    def to_sitk(self) -> sitk.Euler3DTransform:
        """This transform as a SimpleITK ``Euler3DTransform`` (physical units µm)."""
        euler = sitk.Euler3DTransform()
        euler.SetComputeZYX(False)
        euler.SetCenter(self.centre_um)
        euler.SetRotation(*np.deg2rad(self.angles_deg).tolist())
        euler.SetTranslation(self.translation_um)
        return euler

    @classmethod
    def from_sitk(cls, transform: sitk.Transform) -> RigidTransform:
        """Build from a SimpleITK Euler 3-D transform (or one that holds only that)."""
        euler = _as_euler(transform)
        angles = np.rad2deg(euler.GetParameters()[:3])
        return cls(
            angles_deg=tuple(angles.tolist()),
            translation_um=tuple(euler.GetTranslation()),
            centre_um=tuple(euler.GetCenter()),
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``matrix`` is informative and ignored on reading."""
        return {
            "kind": "euler3d",
            "angles_deg": list(self.angles_deg),
            "translation_um": list(self.translation_um),
            "centre_um": list(self.centre_um),
            "matrix": self.matrix.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RigidTransform:
        """Inverse of :meth:`to_dict`."""
        kind = data.get("kind", "euler3d")
        if kind != "euler3d":
            raise ValueError(f"data['kind'] must be 'euler3d', got {kind!r}")
        try:
            return cls(
                angles_deg=tuple(data["angles_deg"]),
                translation_um=tuple(data["translation_um"]),
                centre_um=tuple(data.get("centre_um", (0.0, 0.0, 0.0))),
            )
        except KeyError as missing:
            raise ValueError(f"data lacks the key {missing}") from None


@dataclass(frozen=True)
class RegistrationParameters:
    """Settings of :func:`register_rigid`, stored with the result for provenance.

    Attributes
    ----------
    metric : {"mattes", "correlation"}
        Mattes mutual information (robust to a grey-value change between scans) or
        the normalised correlation (faster, needs the same grey-value scale).
    histogram_bins : int
        Joint histogram bins for Mattes mutual information.
    sampling_fraction : float
        Fraction of the fixed voxels sampled at random for the metric, in (0, 1].
    max_samples : int or None
        Upper bound on the metric samples per pyramid level: the fraction is
        lowered on large volumes (a 384³ scan holds 57 M voxels; 100 000 samples
        pin a rigid transform as well). None: no bound.
    seed : int
        Seed of the random sampling, so that a run is repeatable.
    shrink_factors : tuple of int
        Down-sampling per pyramid level, coarse to fine.
    smoothing_sigmas_vox : tuple of float
        Gaussian smoothing per level (voxels of the full-resolution grid).
    learning_rate_vox : float
        Initial step of the regular-step gradient descent, as the largest shift of
        a voxel it may cause (voxels); the step halves when the direction reverses.
    min_step_vox : float
        Step (voxels) at which the optimiser stops.
    relaxation : float
        Factor in (0, 1) applied to the step each time the gradient reverses; a slow
        relaxation (0.8) keeps weakly constrained rotations from freezing early.
    iterations : int
        Maximum iterations per level.
    initialiser : {"geometry", "moments"}
        Centre the transform on the image centres (``geometry``) or on the grey-value
        centres of mass (``moments``) before optimising.
    threads : int or None
        Threads used by the metric and by the pyramid filters (smoothing,
        shrinking) that the registration runs internally. A fixed count makes a run
        repeatable bit for bit whatever SimpleITK's global default is (multi-threaded
        sums change with the thread split, ~1e-5 in the parameters); None uses
        SimpleITK's global default, faster on large volumes but only repeatable
        while that default stays the same.
    """

    metric: Literal["mattes", "correlation"] = "mattes"
    histogram_bins: int = 50
    sampling_fraction: float = 0.2
    max_samples: int | None = 100_000
    seed: int = 20110433
    shrink_factors: tuple[int, ...] = (4, 2, 1)
    smoothing_sigmas_vox: tuple[float, ...] = (2.0, 1.0, 0.0)
    learning_rate_vox: float = 1.0
    min_step_vox: float = 1e-3
    relaxation: float = 0.8
    iterations: int = 200
    initialiser: Literal["geometry", "moments"] = "geometry"
    threads: int | None = 1

    def __post_init__(self) -> None:
        if self.metric not in ("mattes", "correlation"):
            raise ValueError(f"metric must be 'mattes' or 'correlation', got {self.metric!r}")
        if self.initialiser not in ("geometry", "moments"):
            raise ValueError(
                f"initialiser must be 'geometry' or 'moments', got {self.initialiser!r}"
            )
        if not 0.0 < self.sampling_fraction <= 1.0:
            raise ValueError(f"sampling_fraction must be in (0, 1], got {self.sampling_fraction}")
        if len(self.shrink_factors) != len(self.smoothing_sigmas_vox) or not self.shrink_factors:
            raise ValueError("shrink_factors and smoothing_sigmas_vox must have the same length")
        if any(int(s) < 1 for s in self.shrink_factors):
            raise ValueError(f"shrink_factors must be >= 1, got {self.shrink_factors}")
        if self.histogram_bins < 8:
            raise ValueError(f"histogram_bins must be >= 8, got {self.histogram_bins}")
        if not 0.0 < self.relaxation < 1.0:
            raise ValueError(f"relaxation must be in (0, 1), got {self.relaxation}")
        if self.iterations < 1 or self.learning_rate_vox <= 0 or self.min_step_vox <= 0:
            raise ValueError("iterations, learning_rate_vox and min_step_vox must be positive")
        if self.max_samples is not None and (
            int(self.max_samples) != self.max_samples or self.max_samples < 1000
        ):
            raise ValueError(
                f"max_samples must be an integer >= 1000 or None, got {self.max_samples!r}"
            )
        if self.threads is not None and (int(self.threads) != self.threads or self.threads < 1):
            raise ValueError(f"threads must be a positive integer or None, got {self.threads!r}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the settings."""
        return {
            "metric": self.metric,
            "histogram_bins": self.histogram_bins,
            "sampling_fraction": self.sampling_fraction,
            "max_samples": self.max_samples,
            "seed": self.seed,
            "shrink_factors": list(self.shrink_factors),
            "smoothing_sigmas_vox": list(self.smoothing_sigmas_vox),
            "learning_rate_vox": self.learning_rate_vox,
            "min_step_vox": self.min_step_vox,
            "relaxation": self.relaxation,
            "iterations": self.iterations,
            "initialiser": self.initialiser,
            "threads": self.threads,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RegistrationParameters:
        """Inverse of :meth:`to_dict`."""
        values = dict(data)
        for key in ("shrink_factors", "smoothing_sigmas_vox"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)


@dataclass(frozen=True)
class RegistrationResult:
    """What :func:`register_rigid` found.

    Attributes
    ----------
    transform : RigidTransform
        Baseline → follow-up transform; resample the follow-up with it.
    metric_value : float
        Final metric value (negative mutual information or negative correlation;
        lower is better).
    ncc : float
        Normalised cross-correlation of the two volumes over their overlap after
        registration (within the fixed mask where one was given); 1 is perfect.
    overlap_fraction : float
        Fraction of the baseline voxels (within the mask) whose transformed centre
        falls inside the follow-up volume.
    iterations : int
        Optimiser iterations at the last level.
    stop_condition : str
        The optimiser's own words on why it stopped.
    parameters : RegistrationParameters
        The settings used.
    """

    transform: RigidTransform
    metric_value: float
    ncc: float
    overlap_fraction: float
    iterations: int
    stop_condition: str
    parameters: RegistrationParameters = field(default_factory=RegistrationParameters)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for a database JSON field)."""
        return {
            "transform": self.transform.to_dict(),
            "metric_value": self.metric_value,
            "ncc": self.ncc,
            "overlap_fraction": self.overlap_fraction,
            "iterations": self.iterations,
            "stop_condition": self.stop_condition,
            "parameters": self.parameters.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RegistrationResult:
        """Inverse of :meth:`to_dict`."""
        return cls(
            transform=RigidTransform.from_dict(data["transform"]),
            metric_value=float(data["metric_value"]),
            ncc=float(data["ncc"]),
            overlap_fraction=float(data["overlap_fraction"]),
            iterations=int(data["iterations"]),
            stop_condition=str(data["stop_condition"]),
            parameters=RegistrationParameters.from_dict(data["parameters"]),
        )


def register_rigid(
    baseline: np.ndarray,
    followup: np.ndarray,
    voxel_um: float,
    *,
    fixed_mask: np.ndarray | None = None,
    parameters: RegistrationParameters | None = None,
    initial: RigidTransform | None = None,
) -> RegistrationResult:
    """Register a follow-up volume rigidly onto its baseline.

    Parameters
    ----------
    baseline : (nz, ny, nx) ndarray
        Fixed grey-value volume (mgHA/cm³ or 1/cm).
    followup : (mz, my, mx) ndarray
        Moving grey-value volume of the same animal and site, same voxel size.
    voxel_um : float
        Isotropic voxel size of both volumes (µm).
    fixed_mask : (nz, ny, nx) ndarray of bool, optional
        Baseline voxels the metric may use (e.g. a dilated periosteal mask, or the
        structures known not to change). None uses every voxel.
    parameters : RegistrationParameters, optional
        Metric, pyramid and optimiser settings; the defaults suit mouse bone at
        5–15 µm.
    initial : RigidTransform, optional
        Starting transform (e.g. that of the previous time point); its centre is
        kept. None centres the transform with the chosen initialiser.

    Returns
    -------
    RegistrationResult
        The transform (baseline → follow-up), the final metric and quality figures.

    Raises
    ------
    ValueError
        If an array is not 3-D, not finite, the mask's shape differs from the
        baseline's, or ``voxel_um`` is not positive.

    Notes
    -----
    Random metric sampling uses ``parameters.seed``, so repeated runs with the
    same inputs and settings give the same transform (to rounding with the default
    single thread).
    """
    params = parameters or RegistrationParameters()
    fixed_arr = _check_volume(baseline, "baseline")
    moving_arr = _check_volume(followup, "followup")
    voxel_um = _check_voxel(voxel_um)
    mask_arr = None
    if fixed_mask is not None:
        mask_arr = np.asarray(fixed_mask, dtype=bool)
        if mask_arr.shape != fixed_arr.shape:
            raise ValueError(
                f"fixed_mask must have the baseline's shape {fixed_arr.shape}, got {mask_arr.shape}"
            )
        if not mask_arr.any():
            raise ValueError("fixed_mask selects no voxel")

    fixed = _to_image(fixed_arr.astype(np.float32, copy=False), voxel_um)
    moving = _to_image(moving_arr.astype(np.float32, copy=False), voxel_um)

    if initial is None:
        mode = (
            sitk.CenteredTransformInitializerFilter.GEOMETRY
            if params.initialiser == "geometry"
            else sitk.CenteredTransformInitializerFilter.MOMENTS
        )
        euler = sitk.CenteredTransformInitializer(fixed, moving, sitk.Euler3DTransform(), mode)
        euler = _as_euler(euler)
    else:
        euler = initial.to_sitk()
    euler.SetComputeZYX(False)

    method = sitk.ImageRegistrationMethod()
    if params.threads is not None:
        method.SetNumberOfThreads(int(params.threads))
    if params.metric == "mattes":
        method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=params.histogram_bins)
    else:
        method.SetMetricAsCorrelation()
    method.SetMetricSamplingStrategy(method.RANDOM)
    n_fixed = fixed_arr.size if mask_arr is None else int(np.count_nonzero(mask_arr))
    method.SetMetricSamplingPercentagePerLevel(_sampling_per_level(params, n_fixed), params.seed)
    if mask_arr is not None:
        method.SetMetricFixedMask(_to_image(mask_arr.astype(np.uint8), voxel_um))
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=params.learning_rate_vox * voxel_um,
        minStep=params.min_step_vox * voxel_um,
        numberOfIterations=params.iterations,
        relaxationFactor=params.relaxation,
        gradientMagnitudeTolerance=1e-8,
    )
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([int(s) for s in params.shrink_factors])
    method.SetSmoothingSigmasPerLevel([float(s) * voxel_um for s in params.smoothing_sigmas_vox])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    method.SetInitialTransform(euler, inPlace=True)
    with _global_threads(params.threads):
        method.Execute(fixed, moving)

    transform = RigidTransform.from_sitk(euler)
    ncc, overlap = _quality(fixed_arr, moving_arr, transform, voxel_um, mask_arr)
    return RegistrationResult(
        transform=transform,
        metric_value=float(method.GetMetricValue()),
        ncc=ncc,
        overlap_fraction=overlap,
        iterations=int(method.GetOptimizerIteration()),
        stop_condition=method.GetOptimizerStopConditionDescription(),
        parameters=params,
    )


_INTERPOLATORS = {0: sitk.sitkNearestNeighbor, 1: sitk.sitkLinear, 3: sitk.sitkBSpline}
"""Interpolator of each :func:`resample_onto` order."""


def resample_onto(
    moving: np.ndarray,
    transform: RigidTransform,
    reference_shape: tuple[int, int, int],
    voxel_um: float,
    order: Literal[0, 1, 3] = 1,
    fill_value: float = 0.0,
) -> np.ndarray:
    """Resample a follow-up volume onto the baseline grid, in one interpolation.

    Parameters
    ----------
    moving : (mz, my, mx) ndarray
        Follow-up volume (grey values or labels), centred on its array centre.
    transform : RigidTransform
        Baseline → follow-up transform, as returned by :func:`register_rigid`.
        Compose transforms before resampling rather than resampling twice: every
        interpolation smooths the grey values and biases remodelling (de Bakker et
        al., 2016).
    reference_shape : tuple of 3 int
        Shape ``(nz, ny, nx)`` of the baseline grid.
    voxel_um : float
        Isotropic voxel size of both grids (µm).
    order : {0, 1, 3}
        0: nearest neighbour (labels, masks); 1: trilinear; 3: cubic B-spline (grey
        values for remodelling: trilinear interpolation at a sub-voxel offset averages
        neighbours, a smoothing that shrinks thin formation layers and rounds corners;
        the B-spline interpolates with far less of it). Integer volumes are rounded
        back to their dtype after 1 or 3.
    fill_value : float
        Value of baseline voxels that map outside the follow-up volume.

    Returns
    -------
    (nz, ny, nx) ndarray
        The follow-up on the baseline grid, with ``moving``'s dtype.
    """
    moving_arr = np.asarray(moving)
    if moving_arr.ndim != 3:
        raise ValueError(f"moving must be a 3-D array, got shape {moving_arr.shape}")
    if not isinstance(transform, RigidTransform):
        raise TypeError(f"transform must be a RigidTransform, got {type(transform).__name__}")
    shape = tuple(int(n) for n in reference_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"reference_shape must be three positive sizes, got {reference_shape!r}")
    voxel_um = _check_voxel(voxel_um)
    if order not in _INTERPOLATORS:
        raise ValueError(
            f"order must be 0 (nearest), 1 (linear) or 3 (cubic B-spline), got {order!r}"
        )

    if moving_arr.dtype == bool:
        source = moving_arr.astype(np.uint8)
    elif order > 0 and moving_arr.dtype.kind in "iu":
        source = moving_arr.astype(np.float32)
    else:
        source = moving_arr
    image = _to_image(source, voxel_um)
    reference = sitk.Image([shape[2], shape[1], shape[0]], image.GetPixelID())
    reference.SetSpacing((voxel_um,) * 3)
    reference.SetOrigin(_origin(shape, voxel_um))
    out = sitk.Resample(
        image,
        reference,
        transform.to_sitk(),
        _INTERPOLATORS[order],
        float(fill_value),
        image.GetPixelID(),
    )
    result = sitk.GetArrayFromImage(out)
    if moving_arr.dtype.kind in "iub" and order > 0:
        result = np.rint(result)
    return result.astype(moving_arr.dtype, copy=False)


def _quality(
    fixed: np.ndarray,
    moving: np.ndarray,
    transform: RigidTransform,
    voxel_um: float,
    mask: np.ndarray | None,
) -> tuple[float, float]:
    """Normalised cross-correlation over the overlap, and the overlap fraction."""
    inside = resample_onto(
        np.ones(moving.shape, dtype=np.uint8), transform, fixed.shape, voxel_um, order=0
    ).astype(bool)
    region = inside if mask is None else inside & mask
    total = fixed.size if mask is None else int(mask.sum())
    overlap = float(region.sum()) / total
    if region.sum() < 2:
        return float("nan"), overlap
    warped = resample_onto(moving.astype(np.float32), transform, fixed.shape, voxel_um, order=1)
    a = fixed[region].astype(np.float64)
    b = warped[region].astype(np.float64)
    a -= a.mean()
    b -= b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    ncc = float((a * b).sum() / denom) if denom > 0 else float("nan")
    return ncc, overlap


def _sampling_per_level(params: RegistrationParameters, n_fixed: int) -> list[float]:
    """Metric sampling fraction of each pyramid level, capped at ``max_samples``."""
    out = []
    for shrink in params.shrink_factors:
        fraction = params.sampling_fraction
        if params.max_samples is not None:
            voxels = max(n_fixed / float(shrink) ** 3, 1.0)
            fraction = min(fraction, params.max_samples / voxels)
        out.append(float(fraction))
    return out


@contextmanager
def _global_threads(threads: int | None) -> Iterator[None]:
    """Run with SimpleITK's global default thread count set to ``threads``.

    ``ImageRegistrationMethod.SetNumberOfThreads`` reaches the metric only; the
    multi-resolution pyramid filters it builds take the global default, and their
    multi-threaded sums depend on the thread split.
    """
    if threads is None:
        yield
        return
    previous = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(int(threads))
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(previous)


def _as_euler(transform: sitk.Transform) -> sitk.Euler3DTransform:
    """Unwrap SimpleITK's generic/composite transforms to the Euler transform."""
    if isinstance(transform, sitk.Euler3DTransform):
        return transform
    if isinstance(transform, sitk.CompositeTransform):
        if transform.GetNumberOfTransforms() != 1:
            raise ValueError("transform must hold exactly one Euler 3-D transform")
        transform = transform.GetNthTransform(0)
    euler = transform.Downcast() if hasattr(transform, "Downcast") else transform
    if not isinstance(euler, sitk.Euler3DTransform):
        raise ValueError(f"transform must be an Euler 3-D transform, got {transform.GetName()}")
    return euler


def _to_image(array: np.ndarray, voxel_um: float) -> sitk.Image:
    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    image.SetSpacing((voxel_um,) * 3)
    image.SetOrigin(_origin(array.shape, voxel_um))
    return image


def _origin(shape: tuple[int, ...], voxel_um: float) -> tuple[float, float, float]:
    """Physical ``(x, y, z)`` of voxel ``(0, 0, 0)`` with the array centre at 0."""
    nz, ny, nx = shape
    return (-(nx - 1) / 2 * voxel_um, -(ny - 1) / 2 * voxel_um, -(nz - 1) / 2 * voxel_um)


def _check_volume(array: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(array)
    if arr.ndim != 3:
        raise ValueError(f"{name} must be a 3-D array [z, y, x], got shape {arr.shape}")
    if arr.dtype.kind not in "iuf" and arr.dtype != bool:
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    if min(arr.shape) < 4:
        raise ValueError(f"{name} must be at least 4 voxels along each axis, got {arr.shape}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return arr


def _check_voxel(voxel_um: float) -> float:
    value = float(voxel_um)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"voxel_um must be a positive number of micrometres, got {voxel_um!r}")
    return value
