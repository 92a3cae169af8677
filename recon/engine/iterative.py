"""Iterative reconstruction with the matched projector pair.

* SIRT — simultaneous iterative reconstruction technique in the form
  ``x ← x + λ C Aᵀ R (b − A x)`` with ``R = 1/(A 1)`` and ``C = 1/(Aᵀ 1)``
  (Gregor & Benson, IEEE TMI 27(7):918–924, 2008; Kak & Slaney 1988, §7.4).
  For ``0 < λ < 2`` the R-weighted residual ``‖b − A x‖_R`` never increases.
* CGLS — conjugate gradients on the normal equations ``AᵀA x = Aᵀ b``
  (Hestenes & Stiefel, J. Res. NBS 49:409, 1952; Björck, *Numerical Methods for
  Least Squares Problems*, 1996, §7.4): ``‖b − A x‖₂`` decreases monotonically.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .projector import Projector

__all__ = ["IterativeResult", "cgls", "sirt"]


@dataclass
class IterativeResult:
    """Reconstruction and the residual norm after each iteration.

    Attributes
    ----------
    volume : ndarray, shape (nz, ny, nx), float32
        Attenuation, 1/cm.
    residuals : list of float
        ``‖b − A x‖`` after each iteration (R-weighted for SIRT, Euclidean for CGLS).
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
