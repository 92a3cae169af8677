"""Ray-driven cone-beam forward projector with trilinear sampling (the simulator's own).

For every detector pixel the ray from the source to the pixel centre is clipped to the
volume's support and sampled at evenly spaced midpoints (step ≤ ``step_vox`` voxels);
the attenuation there is interpolated trilinearly (zero outside the array) and summed,
times the step length, into the line integral ``p = ∫ μ dl`` (dimensionless, μ in 1/cm,
lengths converted from µm to cm). This is the ray-driven scheme with interpolation of
Joseph (IEEE TMI 1982;1:192) generalised to 3-D, as in e.g. TIGRE's "interpolated"
projector (Biguri et al., Biomed. Phys. Eng. Express 2016;2:055010).

It is written independently of ``recon/engine/projector.py`` (a voxel-driven, splatting
projector): data simulated here and reconstructed there do not share a discretisation,
which avoids the "inverse crime" of testing a reconstruction on data made by its own
model. Only the geometry *object* is shared (:class:`recon.engine.geometry.ConeBeamGeometry`,
the one place the conventions of ``docs/conventions.md`` are written down); the ray
positions are computed here from its scalar fields.

Conventions (``docs/conventions.md``): volume ``[z, y, x]``, voxel centres about the
array centre; pixel ``(r, c)`` at ``u = (c − (ncols−1)/2)·pixel + offset_u``,
``v = (r − (nrows−1)/2)·pixel + offset_v`` in the detector frame, which is turned by
``detector_tilt_deg`` counter-clockwise seen from the source; source at
``R(θ)·(0, −sod, 0)``, detector centre at ``R(θ)·(0, sdd − sod, 0)``.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from recon.engine.geometry import ConeBeamGeometry

__all__ = ["UM_PER_CM", "forward_project", "line_integrals"]

UM_PER_CM = 1.0e4
"""Micrometres per centimetre (μ is in 1/cm, lengths in µm)."""


@numba.njit(cache=True, inline="always")
def _trilinear(mu, z, y, x):  # pragma: no cover - compiled
    nz, ny, nx = mu.shape
    k0 = math.floor(z)
    j0 = math.floor(y)
    i0 = math.floor(x)
    fz = z - k0
    fy = y - j0
    fx = x - i0
    total = 0.0
    for dk in range(2):
        k = k0 + dk
        if k < 0 or k >= nz:
            continue
        wz = fz if dk else 1.0 - fz
        for dj in range(2):
            j = j0 + dj
            if j < 0 or j >= ny:
                continue
            wy = fy if dj else 1.0 - fy
            for di in range(2):
                i = i0 + di
                if i < 0 or i >= nx:
                    continue
                wx = fx if di else 1.0 - fx
                total += wz * wy * wx * mu[k, j, i]
    return total


@numba.njit(parallel=True, cache=True)
def _project_kernel(
    mu, voxel_um, ct, st, sod, sdd, pixel, off_u, off_v, cpsi, spsi, step_vox, out
):  # pragma: no cover - compiled
    nz, ny, nx = mu.shape
    nrows, ncols = out.shape
    rc = (nrows - 1) / 2.0
    cc = (ncols - 1) / 2.0
    depth = sdd - sod
    sx = sod * st
    sy = -sod * ct
    # Support of the interpolated volume in index space: [-1, n] on each axis.
    lo = (-1.0, -1.0, -1.0)
    hi = (nx * 1.0, ny * 1.0, nz * 1.0)
    ci = (nx - 1) / 2.0
    cj = (ny - 1) / 2.0
    ck = (nz - 1) / 2.0
    for idx in numba.prange(nrows * ncols):
        r = idx // ncols
        c = idx - r * ncols
        u = (c - cc) * pixel + off_u
        v = (r - rc) * pixel + off_v
        a = u * cpsi - v * spsi
        b = u * spsi + v * cpsi
        px = a * ct - depth * st
        py = a * st + depth * ct
        pz = b
        # Ray in index coordinates: q(t) = q0 + t * dq, t in µm along the unit direction.
        dxw = px - sx
        dyw = py - sy
        dzw = pz
        norm = math.sqrt(dxw * dxw + dyw * dyw + dzw * dzw)
        dxw /= norm
        dyw /= norm
        dzw /= norm
        q0 = (sx / voxel_um + ci, sy / voxel_um + cj, 0.0 / voxel_um + ck)
        dq = (dxw / voxel_um, dyw / voxel_um, dzw / voxel_um)
        t_in = -1e300
        t_out = 1e300
        for ax in range(3):
            if abs(dq[ax]) < 1e-15:
                if q0[ax] <= lo[ax] or q0[ax] >= hi[ax]:
                    t_in = 1.0
                    t_out = 0.0
                continue
            t1 = (lo[ax] - q0[ax]) / dq[ax]
            t2 = (hi[ax] - q0[ax]) / dq[ax]
            if t1 > t2:
                t1, t2 = t2, t1
            t_in = max(t_in, t1)
            t_out = min(t_out, t2)
        if t_out <= t_in:
            out[r, c] = 0.0
            continue
        length = t_out - t_in
        n_steps = int(math.ceil(length / (step_vox * voxel_um)))
        h = length / n_steps
        total = 0.0
        for s in range(n_steps):
            t = t_in + (s + 0.5) * h
            total += _trilinear(mu, q0[2] + t * dq[2], q0[1] + t * dq[1], q0[0] + t * dq[0])
        out[r, c] = total * h / UM_PER_CM


def _check_volume(mu_per_cm: np.ndarray, voxel_um: float) -> np.ndarray:
    mu = np.asarray(mu_per_cm)
    if mu.ndim != 3 or min(mu.shape) < 1:
        raise ValueError(f"mu_per_cm must be a 3-D array [z, y, x], got shape {mu.shape}")
    if not np.issubdtype(mu.dtype, np.floating):
        raise ValueError(f"mu_per_cm must be floating point (1/cm), got {mu.dtype}")
    if not (math.isfinite(voxel_um) and voxel_um > 0):
        raise ValueError(f"voxel_um must be a positive number of µm, got {voxel_um!r}")
    return np.ascontiguousarray(mu, dtype=np.float32)


def line_integrals(
    mu_per_cm: np.ndarray,
    voxel_um: float,
    geometry: ConeBeamGeometry,
    angle_index: int,
    *,
    step_vox: float = 0.5,
) -> np.ndarray:
    """Line integrals of μ through one projection.

    Parameters
    ----------
    mu_per_cm : numpy.ndarray
        Linear attenuation (1/cm), shape ``[nz, ny, nx]``, centred on the rotation axis.
    voxel_um : float
        Isotropic voxel size (µm).
    geometry : recon.engine.geometry.ConeBeamGeometry
        Acquisition geometry (detector shape, pixel, offsets, tilt, SOD/SDD, angles).
    angle_index : int
        Which of ``geometry.angles_deg`` to project.
    step_vox : float
        Largest sampling step along a ray, in voxels (default 0.5).

    Returns
    -------
    numpy.ndarray
        float32 ``[nrows, ncols]``: ``∫ μ dl`` (dimensionless).
    """
    mu = _check_volume(mu_per_cm, float(voxel_um))
    if not 0 <= int(angle_index) < geometry.n_angles:
        raise ValueError(f"angle_index must be in 0–{geometry.n_angles - 1}, got {angle_index}")
    if not 0 < step_vox <= 1.0:
        raise ValueError(f"step_vox must be in (0, 1] voxels, got {step_vox}")
    theta = math.radians(geometry.angles_deg[int(angle_index)])
    psi = math.radians(geometry.detector_tilt_deg)
    out = np.empty(geometry.detector_shape, dtype=np.float32)
    _project_kernel(
        mu,
        float(voxel_um),
        math.cos(theta),
        math.sin(theta),
        geometry.sod_um,
        geometry.sdd_um,
        geometry.pixel_um,
        geometry.offset_u_um,
        geometry.offset_v_um,
        math.cos(psi),
        math.sin(psi),
        float(step_vox),
        out,
    )
    return out


def forward_project(
    mu_per_cm: np.ndarray,
    voxel_um: float,
    geometry: ConeBeamGeometry,
    *,
    step_vox: float = 0.5,
) -> np.ndarray:
    """Line integrals of μ for every angle of ``geometry``.

    Parameters
    ----------
    mu_per_cm, voxel_um, geometry, step_vox
        As in :func:`line_integrals`.

    Returns
    -------
    numpy.ndarray
        float32 ``[n_angles, nrows, ncols]``.
    """
    mu = _check_volume(mu_per_cm, float(voxel_um))
    return np.stack(
        [
            line_integrals(mu, voxel_um, geometry, k, step_vox=step_vox)
            for k in range(geometry.n_angles)
        ]
    )
