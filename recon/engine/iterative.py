"""Iterative reconstruction with the matched projector pair.

* SIRT — simultaneous iterative reconstruction technique in the form
  ``x ← x + λ C Aᵀ R (b − A x)`` with ``R = 1/(A 1)`` and ``C = 1/(Aᵀ 1)``
  (Gregor & Benson, IEEE TMI 27(7):918–924, 2008; Kak & Slaney 1988, §7.4).
  For ``0 < λ < 2`` the R-weighted residual ``‖b − A x‖_R`` never increases.
* CGLS — conjugate gradients on the normal equations ``AᵀA x = Aᵀ b``
  (Hestenes & Stiefel, J. Res. NBS 49:409, 1952; Björck, *Numerical Methods for
  Least Squares Problems*, 1996, §7.4): ``‖b − A x‖₂`` decreases monotonically.
* FISTA-TV — ``min ½‖A x − b‖² + λ TV(x)`` (isotropic total variation,
  optionally ``x ≥ 0``) by the monotone FISTA of Beck & Teboulle ("Fast
  gradient-based algorithms for constrained total variation image denoising
  and deblurring problems", IEEE TIP 18(11):2419–2434, 2009), whose objective
  never increases; the TV proximal step is their fast gradient projection (FGP)
  on the dual, and the step ``1/L`` uses ``L ≥ ‖A‖²`` from power iteration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .projector import Projector

__all__ = [
    "IterativeResult",
    "cgls",
    "fista_tv",
    "operator_norm_squared",
    "sirt",
    "total_variation",
]


@dataclass
class IterativeResult:
    """Reconstruction and the residual norm after each iteration.

    Attributes
    ----------
    volume : ndarray, shape (nz, ny, nx), float32
        Attenuation, 1/cm.
    residuals : list of float
        After each iteration: ``‖b − A x‖`` (R-weighted for SIRT, Euclidean for
        CGLS) or the objective ``½‖A x − b‖² + λ TV(x)`` (FISTA-TV).
    """

    volume: np.ndarray
    residuals: list[float] = field(default_factory=list)


def _check(projector: Projector, projections: np.ndarray, iterations: int) -> np.ndarray:
    b = np.asarray(projections, dtype=np.float32)
    if b.shape != projector.projection_shape:
        raise ValueError(
            f"projections: shape {b.shape} != projector range {projector.projection_shape}"
        )
    if int(iterations) < 1:
        raise ValueError(f"iterations: must be at least 1, got {iterations}")
    return b


def sirt(
    projector: Projector,
    projections: np.ndarray,
    iterations: int = 50,
    *,
    relaxation: float = 1.0,
    nonnegative: bool = False,
    x0: np.ndarray | None = None,
) -> IterativeResult:
    """SIRT reconstruction.

    Parameters
    ----------
    projector : Projector
        The system matrix ``A``.
    projections : ndarray, shape projector.projection_shape
        Line integrals ``b``.
    iterations : int
    relaxation : float
        ``λ`` in (0, 2).
    nonnegative : bool
        Clip negative attenuation after each update.
    x0 : ndarray, optional
        Start volume (default zeros).

    Returns
    -------
    IterativeResult
    """
    b = _check(projector, projections, iterations)
    if not 0 < relaxation < 2:
        raise ValueError(f"relaxation: must lie in (0, 2), got {relaxation}")
    row = projector.forward(np.ones(projector.volume_shape, np.float32))
    col = projector.adjoint(np.ones(projector.projection_shape, np.float32))
    r_w = np.where(row > 1e-12, 1.0 / np.maximum(row, 1e-12), 0.0).astype(np.float32)
    c_w = np.where(col > 1e-12, 1.0 / np.maximum(col, 1e-12), 0.0).astype(np.float32)
    x = np.zeros(projector.volume_shape, np.float32) if x0 is None else np.array(x0, np.float32)
    result = IterativeResult(x)
    residual = b - projector.forward(x)
    for _ in range(int(iterations)):
        x += np.float32(relaxation) * c_w * projector.adjoint(r_w * residual)
        if nonnegative:
            np.maximum(x, 0, out=x)
        residual = b - projector.forward(x)
        result.residuals.append(float(np.sqrt(np.sum(r_w * residual.astype(np.float64) ** 2))))
    result.volume = x
    return result


def cgls(
    projector: Projector,
    projections: np.ndarray,
    iterations: int = 20,
    *,
    x0: np.ndarray | None = None,
) -> IterativeResult:
    """CGLS reconstruction (least squares ``min ‖A x − b‖₂``).

    Parameters
    ----------
    projector : Projector
    projections : ndarray, shape projector.projection_shape
    iterations : int
    x0 : ndarray, optional

    Returns
    -------
    IterativeResult
    """
    b = _check(projector, projections, iterations)
    x = np.zeros(projector.volume_shape, np.float64) if x0 is None else np.array(x0, np.float64)
    r = (b - projector.forward(x.astype(np.float32))).astype(np.float64)
    s = projector.adjoint(r.astype(np.float32)).astype(np.float64)
    p = s.copy()
    gamma = float(np.vdot(s, s))
    result = IterativeResult(x.astype(np.float32))
    for _ in range(int(iterations)):
        if gamma == 0.0:
            result.residuals.append(float(np.linalg.norm(r)))
            continue
        q = projector.forward(p.astype(np.float32)).astype(np.float64)
        alpha = gamma / float(np.vdot(q, q))
        x += alpha * p
        r -= alpha * q
        s = projector.adjoint(r.astype(np.float32)).astype(np.float64)
        gamma_new = float(np.vdot(s, s))
        p = s + (gamma_new / gamma) * p
        gamma = gamma_new
        result.residuals.append(float(np.linalg.norm(r)))
    result.volume = x.astype(np.float32)
    return result


def _grad(x: np.ndarray) -> np.ndarray:
    """Forward differences along z, y, x (zero on the last face), shape (3, *x.shape)."""
    g = np.zeros((3, *x.shape), dtype=x.dtype)
    g[0, :-1] = x[1:] - x[:-1]
    g[1, :, :-1] = x[:, 1:] - x[:, :-1]
    g[2, :, :, :-1] = x[:, :, 1:] - x[:, :, :-1]
    return g


def _grad_adjoint(p: np.ndarray) -> np.ndarray:
    """Adjoint of :func:`_grad` (minus the divergence)."""
    out = np.zeros(p.shape[1:], dtype=p.dtype)
    out[:-1] -= p[0, :-1]
    out[1:] += p[0, :-1]
    out[:, :-1] -= p[1, :, :-1]
    out[:, 1:] += p[1, :, :-1]
    out[:, :, :-1] -= p[2, :, :, :-1]
    out[:, :, 1:] += p[2, :, :, :-1]
    return out


def total_variation(x: np.ndarray) -> float:
    """Isotropic total variation ``Σ |∇x|`` (forward differences), volume units."""
    g = _grad(np.asarray(x, dtype=np.float64))
    return float(np.sum(np.sqrt(np.sum(g * g, axis=0))))


def _tv_prox(v: np.ndarray, mu: float, iterations: int, nonnegative: bool) -> np.ndarray:
    """``argmin_x ½‖x − v‖² + μ TV(x)`` (x ≥ 0 optional) by FGP (Beck & Teboulle 2009)."""
    if mu <= 0:
        return np.maximum(v, 0) if nonnegative else v.copy()
    p = np.zeros((3, *v.shape), dtype=v.dtype)
    r = p.copy()
    t = 1.0
    step = 1.0 / (12.0 * mu)  # ‖∇ᵀ∇‖ ≤ 12 in three dimensions
    for _ in range(iterations):
        x = v - mu * _grad_adjoint(r)
        if nonnegative:
            np.maximum(x, 0, out=x)
        q = r + step * _grad(x)
        q /= np.maximum(1.0, np.sqrt(np.sum(q * q, axis=0)))[None]
        t_next = (1.0 + np.sqrt(1.0 + 4.0 * t * t)) / 2.0
        r = q + ((t - 1.0) / t_next) * (q - p)
        p, t = q, t_next
    x = v - mu * _grad_adjoint(p)
    return np.maximum(x, 0) if nonnegative else x


def operator_norm_squared(projector: Projector, iterations: int = 15, seed: int = 0) -> float:
    """Estimate of ``‖A‖² = λ_max(AᵀA)`` by power iteration (1/cm units squared)."""
    rng = np.random.default_rng(seed)
    x = rng.random(projector.volume_shape).astype(np.float32)
    x /= np.linalg.norm(x)
    value = 0.0
    for _ in range(iterations):
        y = projector.adjoint(projector.forward(x)).astype(np.float64)
        value = float(np.linalg.norm(y))
        if value == 0.0:
            return 0.0
        x = (y / value).astype(np.float32)
    return value


def fista_tv(
    projector: Projector,
    projections: np.ndarray,
    iterations: int = 50,
    *,
    tv_weight: float = 0.0,
    nonnegative: bool = True,
    inner_iterations: int = 20,
    lipschitz: float | None = None,
    x0: np.ndarray | None = None,
) -> IterativeResult:
    """Monotone FISTA for ``min ½‖A x − b‖² + tv_weight · TV(x)``.

    Parameters
    ----------
    projector : Projector
    projections : ndarray, shape projector.projection_shape
        Line integrals ``b``.
    iterations : int
    tv_weight : float
        ``λ ≥ 0`` (units of ``b² / (1/cm)``); 0 gives (projected) least squares.
    nonnegative : bool
        Constrain ``x ≥ 0``.
    inner_iterations : int
        FGP iterations of each TV proximal step.
    lipschitz : float, optional
        ``L ≥ ‖A‖²``; default 1.05 × :func:`operator_norm_squared`.
    x0 : ndarray, optional

    Returns
    -------
    IterativeResult
        ``residuals`` holds the objective after each iteration (never increasing).
    """
    b = _check(projector, projections, iterations)
    if not tv_weight >= 0:
        raise ValueError(f"tv_weight: must be non-negative, got {tv_weight}")
    if int(inner_iterations) < 1:
        raise ValueError(f"inner_iterations: must be at least 1, got {inner_iterations}")
    big_l = 1.05 * operator_norm_squared(projector) if lipschitz is None else float(lipschitz)
    if not big_l > 0:
        raise ValueError(f"lipschitz: must be positive, got {big_l}")

    def objective(x: np.ndarray, ax: np.ndarray) -> float:
        r = (ax - b).astype(np.float64)
        return 0.5 * float(np.vdot(r, r)) + tv_weight * total_variation(x)

    x = np.zeros(projector.volume_shape, np.float32) if x0 is None else np.array(x0, np.float32)
    ax = projector.forward(x)
    f_x = objective(x, ax)
    y, t = x.copy(), 1.0
    result = IterativeResult(x)
    for _ in range(int(iterations)):
        grad = projector.adjoint(projector.forward(y) - b)
        z = _tv_prox(
            y - grad / np.float32(big_l), tv_weight / big_l, int(inner_iterations), nonnegative
        ).astype(np.float32)
        az = projector.forward(z)
        f_z = objective(z, az)
        t_next = (1.0 + np.sqrt(1.0 + 4.0 * t * t)) / 2.0
        x_prev = x
        if f_z <= f_x:
            x, ax, f_x = z, az, f_z
        y = x + np.float32(t / t_next) * (z - x) + np.float32((t - 1.0) / t_next) * (x - x_prev)
        t = t_next
        result.residuals.append(f_x)
    result.volume = x
    return result
