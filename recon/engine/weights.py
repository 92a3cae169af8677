"""Projection weights applied before filtering: angular quadrature and redundancy.

* angular quadrature ``Δθ`` per projection (mid-point rule, radians);
* full scans (≥ 360°) measure every line twice: weight ½;
* short scans (180° + fan angle) use Parker's smooth redundancy weights
  (D. L. Parker, "Optimal short scan convolution reconstruction for fan beam CT",
  Med. Phys. 9(2):254–257, 1982), here in the generalised form where the
  overscan ``Δ = (span − 180°) / 2`` replaces the half fan angle (Wesarg et al.,
  Med. Phys. 29(12), 2002) so that any span between 180° + fan and 360° works;
* an offset detector (half-fan, extended field of view) in a full scan uses the
  smooth complementary weights of Wang (G. Wang, "X-ray micro-CT with a displaced
  detector array", Med. Phys. 29(7):1634–1636, 2002).
"""

from __future__ import annotations

import math

import numpy as np

from .geometry import ConeBeamGeometry, ParallelBeamGeometry

__all__ = [
    "angular_weights",
    "half_fan_padding",
    "half_fan_weights",
    "is_full_scan",
    "needs_half_fan",
    "parker_weights",
]

Geometry = ParallelBeamGeometry | ConeBeamGeometry


def angular_weights(angles_deg: np.ndarray) -> np.ndarray:
    """Mid-point quadrature weight of each angle, radians, shape (n_angles,)."""
    a = np.radians(np.asarray(angles_deg, dtype=np.float64))
    if a.size == 1:
        return np.array([np.pi])
    order = np.argsort(a)
    s = a[order]
    d = np.empty_like(s)
    d[1:-1] = (s[2:] - s[:-2]) / 2
    d[0] = s[1] - s[0]
    d[-1] = s[-1] - s[-2]
    out = np.empty_like(d)
    out[order] = d
    return out


def is_full_scan(geometry: Geometry) -> bool:
    """True when the angles cover 360° (within half a step)."""
    a = np.asarray(geometry.angles_deg)
    if a.size < 2:
        return False
    step = (a.max() - a.min()) / (a.size - 1)
    return geometry.angular_span_deg() >= 360.0 - 0.5 * step


def _fan_angles(geometry: Geometry) -> np.ndarray:
    if isinstance(geometry, ConeBeamGeometry):
        return geometry.fan_angles_rad()
    return np.zeros(geometry.ncols)


def parker_weights(geometry: Geometry) -> np.ndarray:
    """Parker short-scan weights, shape (n_angles, ncols).

    Raises
    ------
    ValueError
        If the scan covers less than 180° plus the fan angle.
    """
    a = np.radians(np.asarray(geometry.angles_deg, dtype=np.float64))
    ascending = a[-1] >= a[0]
    beta = (a - a.min()) if ascending else (a.max() - a)
    span = float(beta.max())
    # In our convention the ray complementary to (θ, γ) is (θ + π − 2γ, −γ);
    # Parker's formulas are written for (β + π + 2γ, −γ): use γ_P = −γ.
    gamma = -_fan_angles(geometry)
    if not ascending:
        gamma = -gamma
    coverage = math.radians(geometry.angular_span_deg())
    gmax = float(np.max(np.abs(gamma)))
    if (coverage - np.pi) / 2 < gmax - 1e-9:
        need = math.degrees(np.pi + 2 * gmax)
        raise ValueError(
            f"angles_deg: a short scan must cover at least 180° + fan angle = {need:.2f}°, "
            f"got {math.degrees(coverage):.2f}°"
        )
    delta = (span - np.pi) / 2
    if delta <= 1e-12 and gmax == 0.0:
        return np.ones((a.size, gamma.size))
    delta = max(delta, gmax + 1e-6)
    b = beta[:, None]
    g = gamma[None, :]
    w = np.ones((a.size, gamma.size))
    with np.errstate(divide="ignore", invalid="ignore"):
        rise = b < 2 * delta - 2 * g
        w = np.where(rise, np.sin(np.pi / 4 * b / (delta - g)) ** 2, w)
        fall = b > np.pi - 2 * g
        w = np.where(fall, np.sin(np.pi / 4 * (np.pi + 2 * delta - b) / (delta + g)) ** 2, w)
    return np.clip(np.nan_to_num(w), 0.0, 1.0)


def needs_half_fan(geometry: Geometry, threshold: float = 0.05) -> bool:
    """True when the axis is off-centre by more than ``threshold`` of the detector width."""
    u = geometry.u_um()
    left, right = -float(u.min()), float(u.max())
    return abs(right - left) > threshold * (right + left)


def half_fan_weights(geometry: Geometry) -> np.ndarray:
    """Offset-detector weights for a full scan, shape (ncols,), to combine with ½.

    Columns seen from both sides get ``2 w(u)`` with ``w(u) + w(−u) = 1``
    (``w = sin²(π/4 · (u + a)/a)`` on the overlap ``|u| < a``); columns only one
    side of the axis sees get 2, so that after the full-scan ½ each line counts once.
    """
    u = geometry.u_um()
    a = min(-float(u.min()), float(u.max()))
    if a <= 0:
        raise ValueError("geometry: the detector does not reach across the rotation axis")
    sign = 1.0 if float(u.max()) >= -float(u.min()) else -1.0
    t = np.clip(sign * u / a, -1.0, 1.0)
    return 2.0 * np.sin(np.pi / 4 * (t + 1.0)) ** 2


def half_fan_padding(geometry: Geometry) -> tuple[int, int]:
    """Columns ``(left, right)`` that make an offset detector symmetric about the axis.

    The ramp-filtered, offset-weighted projection does not vanish beyond the
    detector's short side; reconstruction filters on a detector widened by these
    zero columns so that backprojection sees those tails (without them the
    image is biased by several per cent).
    """
    u = geometry.u_um()
    left, right = -float(u.min()), float(u.max())
    extra = int(math.ceil(abs(right - left) / geometry.pixel_um - 1e-6))
    return (extra, 0) if right > left else (0, extra)
