"""Acquisition and volume geometry: the one module that owns the conventions.

Every algorithm of the engine takes a geometry object built here and asks it
for coordinates; none re-derives them.  The conventions are those of
``docs/conventions.md``:

* volumes are indexed ``[z, y, x]``; voxel ``(k, j, i)`` has its centre at
  ``x = (i - (nx - 1) / 2) * voxel_um + origin_x`` (likewise ``y``, ``z``), so the
  grid centre lies on the rotation axis (the z axis) and, for even sizes,
  half-way between two voxels.  This is ASTRA's ``(N - 1) / 2`` convention;
  scikit-image's ``radon``/``iradon`` centre on index ``N // 2``, which equals
  ours for odd ``N`` and lies half a pixel further for even ``N``;
* projection frames are indexed ``[row, col] = [v, u]``; pixel ``(r, c)`` has its
  centre at ``u = (c - (ncols - 1) / 2) * pixel_um + offset_u_um`` and
  ``v = (r - (nrows - 1) / 2) * pixel_um + offset_v_um``;
* at rotation angle ``θ`` the source sits at ``R(θ)·(0, -sod, 0)``, the detector
  centre at ``R(θ)·(0, sdd - sod, 0)``, the detector u axis along ``R(θ)·(1, 0, 0)``
  and v along ``(0, 0, 1)``, ``R(θ)`` turning counter-clockwise about +z;
* ``detector_tilt_deg`` turns the detector in its own plane about the central ray,
  counter-clockwise seen from the source; ``offset_u_um``/``offset_v_um`` are
  measured in the (tilted) detector frame.  The rotation axis projects onto column
  ``(ncols - 1) / 2 + axis_offset_px`` with ``axis_offset_px = -offset_u_um / pixel_um``.

Lengths are in micrometres, angles in degrees at the interface.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np

__all__ = [
    "ConeBeamGeometry",
    "KernelGeometry",
    "ParallelBeamGeometry",
    "VolumeGeometry",
    "default_volume",
    "detector_rows_for",
]


def _as_angles(angles_deg: object) -> tuple[float, ...]:
    angles = np.asarray(angles_deg, dtype=np.float64).ravel()
    if angles.size == 0:
        raise ValueError("angles_deg: at least one projection angle is needed")
    if not np.all(np.isfinite(angles)):
        raise ValueError("angles_deg: angles must be finite")
    return tuple(float(a) for a in angles)


def _check_positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name}: must be a positive finite number, got {value!r}")


def _check_shape(name: str, shape: tuple[int, ...], ndim: int) -> tuple[int, ...]:
    shape = tuple(int(s) for s in shape)
    if len(shape) != ndim or any(s < 1 for s in shape):
        raise ValueError(f"{name}: expected {ndim} positive sizes, got {shape!r}")
    return shape


class KernelGeometry(NamedTuple):
    """Flat numeric description of an acquisition that the backends consume.

    Attributes
    ----------
    cos, sin : ndarray, shape (n_angles,)
        Cosine and sine of the rotation angles.
    cone : bool
        True for circular cone beam, False for parallel beam.
    sod_um, sdd_um : float
        Source-axis and source-detector distances (ignored for parallel beam).
    pixel_um : float
        Detector pixel pitch.
    offset_u_um, offset_v_um : float
        Detector offsets in the tilted detector frame.
    cos_tilt, sin_tilt : float
        Cosine and sine of the in-plane detector tilt.
    col_centre, row_centre : float
        ``(ncols - 1) / 2`` and ``(nrows - 1) / 2``.
    nrows, ncols : int
        Detector shape.
    """

    cos: np.ndarray
    sin: np.ndarray
    cone: bool
    sod_um: float
    sdd_um: float
    pixel_um: float
    offset_u_um: float
    offset_v_um: float
    cos_tilt: float
    sin_tilt: float
    col_centre: float
    row_centre: float
    nrows: int
    ncols: int


@dataclass(frozen=True)
class _Detector:
    """Fields and coordinate rules shared by both beam geometries."""

    detector_shape: tuple[int, int]
    pixel_um: float
    angles_deg: tuple[float, ...]
    offset_u_um: float = 0.0
    offset_v_um: float = 0.0
    detector_tilt_deg: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "detector_shape", _check_shape("detector_shape", self.detector_shape, 2)
        )
        _check_positive("pixel_um", float(self.pixel_um))
        object.__setattr__(self, "angles_deg", _as_angles(self.angles_deg))
        for name in ("offset_u_um", "offset_v_um", "detector_tilt_deg"):
            value = float(getattr(self, name))
            if not math.isfinite(value):
                raise ValueError(f"{name}: must be finite, got {value!r}")
            object.__setattr__(self, name, value)

    # -- detector ---------------------------------------------------------
    @property
    def nrows(self) -> int:
        """Number of detector rows (v)."""
        return self.detector_shape[0]

    @property
    def ncols(self) -> int:
        """Number of detector columns (u)."""
        return self.detector_shape[1]

    @property
    def n_angles(self) -> int:
        """Number of projections."""
        return len(self.angles_deg)

    @property
    def projection_shape(self) -> tuple[int, int, int]:
        """Shape ``(n_angles, nrows, ncols)`` of a projection stack."""
        return (self.n_angles, self.nrows, self.ncols)

    @property
    def axis_offset_px(self) -> float:
        """Column offset of the projected rotation axis from the detector centre."""
        return -self.offset_u_um / self.pixel_um

    @property
    def axis_column(self) -> float:
        """Detector column (fractional) onto which the rotation axis projects."""
        return (self.ncols - 1) / 2 + self.axis_offset_px

    def with_axis_offset(self, axis_offset_px: float):
        """Return a copy whose rotation axis projects ``axis_offset_px`` off centre."""
        return replace(self, offset_u_um=-float(axis_offset_px) * self.pixel_um)

    def with_angles(self, angles_deg: object):
        """Return a copy with other projection angles (degrees)."""
        return replace(self, angles_deg=_as_angles(angles_deg))

    def u_um(self) -> np.ndarray:
        """Detector u coordinate of each column centre, shape (ncols,), µm."""
        c = np.arange(self.ncols, dtype=np.float64)
        return (c - (self.ncols - 1) / 2) * self.pixel_um + self.offset_u_um

    def v_um(self) -> np.ndarray:
        """Detector v coordinate of each row centre, shape (nrows,), µm."""
        r = np.arange(self.nrows, dtype=np.float64)
        return (r - (self.nrows - 1) / 2) * self.pixel_um + self.offset_v_um

    def crop_rows(self, start: int, stop: int):
        """Return the geometry of detector rows ``start:stop`` (same pixels in space)."""
        start, stop = int(start), int(stop)
        if not 0 <= start < stop <= self.nrows:
            raise ValueError(f"rows: need 0 <= start < stop <= {self.nrows}, got {start}:{stop}")
        n_new = stop - start
        shift = (start + (n_new - 1) / 2 - (self.nrows - 1) / 2) * self.pixel_um
        return replace(
            self, detector_shape=(n_new, self.ncols), offset_v_um=self.offset_v_um + shift
        )

    def pad_columns(self, left: int, right: int):
        """Return the geometry of the detector widened by ``left``/``right`` columns.

        The existing pixels keep their positions (used to hold the filter's tails
        beyond an offset detector's short side).
        """
        left, right = int(left), int(right)
        if left < 0 or right < 0:
            raise ValueError(f"pad_columns: need non-negative counts, got {left}, {right}")
        return replace(
            self,
            detector_shape=(self.nrows, self.ncols + left + right),
            offset_u_um=self.offset_u_um + (right - left) / 2 * self.pixel_um,
        )

    def _detector_frame_to_plane(self, u: np.ndarray, v: np.ndarray):
        """Untilted in-plane coordinates ``(a, b)`` (along x', z) of detector ``(u, v)``."""
        psi = math.radians(self.detector_tilt_deg)
        c, s = math.cos(psi), math.sin(psi)
        return u * c - v * s, u * s + v * c

    def kernel_geometry(self) -> KernelGeometry:
        """Numeric description of this acquisition for the backends."""
        theta = np.radians(np.asarray(self.angles_deg, dtype=np.float64))
        psi = math.radians(self.detector_tilt_deg)
        cone = isinstance(self, ConeBeamGeometry)
        return KernelGeometry(
            cos=np.cos(theta),
            sin=np.sin(theta),
            cone=cone,
            sod_um=float(self.sod_um) if cone else 1.0,
            sdd_um=float(self.sdd_um) if cone else 1.0,
            pixel_um=float(self.pixel_um),
            offset_u_um=self.offset_u_um,
            offset_v_um=self.offset_v_um,
            cos_tilt=math.cos(psi),
            sin_tilt=math.sin(psi),
            col_centre=(self.ncols - 1) / 2,
            row_centre=(self.nrows - 1) / 2,
            nrows=self.nrows,
            ncols=self.ncols,
        )

    def angular_span_deg(self) -> float:
        """Angular coverage: range of the angles plus one mean step, degrees."""
        a = np.asarray(self.angles_deg)
        if a.size < 2:
            return 0.0
        rng = float(a.max() - a.min())
        return rng + rng / (a.size - 1)


@dataclass(frozen=True)
class ParallelBeamGeometry(_Detector):
    """Parallel-beam acquisition (synchrotron-like; the limit SOD → ∞).

    Parameters
    ----------
    detector_shape : tuple of int
        ``(nrows, ncols)`` of a projection frame.
    pixel_um : float
        Detector pixel pitch, µm (equal to the voxel size at the axis).
    angles_deg : sequence of float
        Rotation angle of each projection, degrees.
    offset_u_um, offset_v_um : float
        Lateral and vertical detector shift, µm.
    detector_tilt_deg : float
        In-plane detector tilt, degrees, counter-clockwise seen from the source.
    """

    @property
    def magnification(self) -> float:
        """Magnification (1 for parallel beam)."""
        return 1.0

    def rays(self, angle_index: int) -> tuple[np.ndarray, np.ndarray]:
        """Ray origin and unit direction through each pixel centre.

        Returns
        -------
        origins : ndarray, shape (nrows, ncols, 3)
            A point on each ray (on the detector plane through the axis), µm, (x, y, z).
        directions : ndarray, shape (nrows, ncols, 3)
            Unit ray directions.
        """
        theta = math.radians(self.angles_deg[angle_index])
        ct, st = math.cos(theta), math.sin(theta)
        a, b = self._detector_frame_to_plane(self.u_um()[None, :], self.v_um()[:, None])
        a, b = np.broadcast_arrays(a, b)
        origins = np.stack([a * ct, a * st, b], axis=-1)
        direction = np.array([-st, ct, 0.0])
        return origins, np.broadcast_to(direction, origins.shape).copy()


@dataclass(frozen=True)
class ConeBeamGeometry(_Detector):
    """Circular cone-beam acquisition with a flat detector.

    Parameters
    ----------
    detector_shape : tuple of int
        ``(nrows, ncols)`` of a projection frame.
    pixel_um : float
        Detector pixel pitch, µm.
    angles_deg : sequence of float
        Rotation angle of each projection, degrees.
    sod_um : float
        Source to rotation axis distance, µm.
    sdd_um : float
        Source to detector distance, µm (``> sod_um``).
    offset_u_um, offset_v_um : float
        Lateral and vertical detector shift, µm.
    detector_tilt_deg : float
        In-plane detector tilt, degrees, counter-clockwise seen from the source.
    """

    sod_um: float = field(default=0.0, kw_only=True)
    sdd_um: float = field(default=0.0, kw_only=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_positive("sod_um", float(self.sod_um))
        _check_positive("sdd_um", float(self.sdd_um))
        if self.sdd_um <= self.sod_um:
            raise ValueError(
                f"sdd_um: the detector must lie beyond the axis (sdd_um={self.sdd_um} "
                f"<= sod_um={self.sod_um})"
            )
        object.__setattr__(self, "sod_um", float(self.sod_um))
        object.__setattr__(self, "sdd_um", float(self.sdd_um))

    @property
    def magnification(self) -> float:
        """Geometric magnification ``sdd_um / sod_um`` at the rotation axis."""
        return self.sdd_um / self.sod_um

    def fan_half_angle_deg(self) -> float:
        """Largest in-plane fan angle of the detector columns, degrees."""
        u = self.u_um()
        return math.degrees(math.atan(float(np.max(np.abs(u))) / self.sdd_um))

    def fan_angles_rad(self) -> np.ndarray:
        """In-plane fan angle ``atan(u / sdd)`` of each column, shape (ncols,), radians."""
        return np.arctan(self.u_um() / self.sdd_um)

    def rays(self, angle_index: int) -> tuple[np.ndarray, np.ndarray]:
        """Source position and unit direction to each pixel centre.

        Returns
        -------
        origins : ndarray, shape (nrows, ncols, 3)
            The source position (repeated), µm, (x, y, z).
        directions : ndarray, shape (nrows, ncols, 3)
            Unit directions from the source to each pixel centre.
        """
        theta = math.radians(self.angles_deg[angle_index])
        ct, st = math.cos(theta), math.sin(theta)
        a, b = self._detector_frame_to_plane(self.u_um()[None, :], self.v_um()[:, None])
        a, b = np.broadcast_arrays(a, b)
        depth = self.sdd_um - self.sod_um
        pixel = np.stack([a * ct - depth * st, a * st + depth * ct, b], axis=-1)
        source = np.array([self.sod_um * st, -self.sod_um * ct, 0.0])
        d = pixel - source
        d /= np.linalg.norm(d, axis=-1, keepdims=True)
        return np.broadcast_to(source, d.shape).copy(), d

    def project_point(self, point_um: tuple[float, float, float], angle_index: int):
        """Detector ``(row, col)`` (fractional) where a point ``(x, y, z)`` µm projects."""
        kg = self.kernel_geometry()
        x, y, z = point_um
        c, s = kg.cos[angle_index], kg.sin[angle_index]
        xr, yr = x * c + y * s, -x * s + y * c
        m = self.sdd_um / (self.sod_um + yr)
        a, b = xr * m, z * m
        u = a * kg.cos_tilt + b * kg.sin_tilt
        v = -a * kg.sin_tilt + b * kg.cos_tilt
        return (
            (v - self.offset_v_um) / self.pixel_um + kg.row_centre,
            (u - self.offset_u_um) / self.pixel_um + kg.col_centre,
        )


@dataclass(frozen=True)
class VolumeGeometry:
    """Regular reconstruction grid.

    Parameters
    ----------
    shape : tuple of int
        ``(nz, ny, nx)``.
    voxel_um : float
        Isotropic voxel size, µm.
    origin_um : tuple of float
        ``(z, y, x)`` position of the grid centre relative to the centre of the
        rotation axis, µm; non-zero for a slab or region of interest.
    """

    shape: tuple[int, int, int]
    voxel_um: float
    origin_um: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", _check_shape("shape", self.shape, 3))
        _check_positive("voxel_um", float(self.voxel_um))
        object.__setattr__(self, "voxel_um", float(self.voxel_um))
        origin = tuple(float(o) for o in self.origin_um)
        if len(origin) != 3 or not all(math.isfinite(o) for o in origin):
            raise ValueError(f"origin_um: expected three finite numbers, got {self.origin_um!r}")
        object.__setattr__(self, "origin_um", origin)

    def _axis(self, axis: int) -> np.ndarray:
        n = self.shape[axis]
        return (np.arange(n, dtype=np.float64) - (n - 1) / 2) * self.voxel_um + self.origin_um[axis]

    def z_um(self) -> np.ndarray:
        """z of each voxel centre, shape (nz,), µm."""
        return self._axis(0)

    def y_um(self) -> np.ndarray:
        """y of each voxel centre, shape (ny,), µm."""
        return self._axis(1)

    def x_um(self) -> np.ndarray:
        """x of each voxel centre, shape (nx,), µm."""
        return self._axis(2)

    def voxel_index(self, point_um: tuple[float, float, float]) -> tuple[float, float, float]:
        """Fractional ``(k, j, i)`` index of a point given as ``(x, y, z)`` µm."""
        x, y, z = point_um
        nz, ny, nx = self.shape
        oz, oy, ox = self.origin_um
        return (
            (z - oz) / self.voxel_um + (nz - 1) / 2,
            (y - oy) / self.voxel_um + (ny - 1) / 2,
            (x - ox) / self.voxel_um + (nx - 1) / 2,
        )

    def sub_grid(self, z: slice = slice(None), y: slice = slice(None), x: slice = slice(None)):
        """Geometry of the sub-array ``volume[z, y, x]`` (unit-step slices), same positions."""
        origin = []
        shape = []
        for axis, sl in enumerate((z, y, x)):
            start, stop, step = sl.indices(self.shape[axis])
            if step != 1 or stop <= start:
                raise ValueError(f"sub_grid: need a non-empty unit-step slice, got {sl!r}")
            n_new = stop - start
            n = self.shape[axis]
            shift = (start + (n_new - 1) / 2 - (n - 1) / 2) * self.voxel_um
            origin.append(self.origin_um[axis] + shift)
            shape.append(n_new)
        return VolumeGeometry(tuple(shape), self.voxel_um, tuple(origin))

    def slab(self, start: int, stop: int) -> VolumeGeometry:
        """Geometry of the z-slab ``volume[start:stop]``."""
        return self.sub_grid(z=slice(int(start), int(stop)))


def default_volume(geometry: ParallelBeamGeometry | ConeBeamGeometry) -> VolumeGeometry:
    """The natural grid of an acquisition: voxel ``pixel / M``, ``(nrows, ncols, ncols)``.

    Parameters
    ----------
    geometry : ParallelBeamGeometry or ConeBeamGeometry

    Returns
    -------
    VolumeGeometry
    """
    voxel = geometry.pixel_um / geometry.magnification
    return VolumeGeometry((geometry.nrows, geometry.ncols, geometry.ncols), voxel)


def detector_rows_for(
    geometry: ParallelBeamGeometry | ConeBeamGeometry, volume: VolumeGeometry
) -> tuple[int, int]:
    """Detector rows ``start:stop`` that a volume (slab) projects onto, with margin.

    Parameters
    ----------
    geometry : ParallelBeamGeometry or ConeBeamGeometry
    volume : VolumeGeometry
        The grid (slab, region of interest) to reconstruct.

    Returns
    -------
    tuple of int
        ``(start, stop)`` clipped to the detector.
    """
    z = volume.z_um()
    zlo, zhi = float(z[0]) - volume.voxel_um, float(z[-1]) + volume.voxel_um
    ny, nx = volume.shape[1:]
    oz, oy, ox = volume.origin_um
    radius = np.hypot(abs(oy) + ny * volume.voxel_um / 2, abs(ox) + nx * volume.voxel_um / 2)
    if isinstance(geometry, ConeBeamGeometry):
        mags = [geometry.sdd_um / (geometry.sod_um + s * radius) for s in (-1.0, 1.0)]
        mags = [m for m in mags if m > 0] or [geometry.magnification]
    else:
        mags = [1.0]
    vs = [zz * m for zz in (zlo, zhi) for m in mags]
    tilt_margin = abs(np.sin(np.radians(geometry.detector_tilt_deg))) * (
        radius * max(mags) + abs(geometry.offset_u_um)
    )
    v_lo = min(vs) - tilt_margin - geometry.offset_v_um
    v_hi = max(vs) + tilt_margin - geometry.offset_v_um
    centre = (geometry.nrows - 1) / 2
    start = int(np.floor(v_lo / geometry.pixel_um + centre)) - 2
    stop = int(np.ceil(v_hi / geometry.pixel_um + centre)) + 3
    start = min(max(start, 0), geometry.nrows - 1)
    stop = max(min(stop, geometry.nrows), start + 1)
    return start, stop
