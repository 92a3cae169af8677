"""From raw detector frames to line integrals.

* flat/dark normalisation ``(I − D) / (F − D)`` with averaged flats, or flats
  taken before and after the scan interpolated linearly by angle;
* clamped ``−log``;
* bad-pixel handling: dead/hot pixels found in flats and darks, zingers (single-frame
  outliers) against a local median;
* ring removal by the sorting-based stripe filter of Vo, Atwood & Drakopoulou
  ("Superior techniques for eliminating ring artifacts in X-ray
  micro-tomography", Opt. Express 26(22):28396–28412, 2018, algorithm 3): each
  sinogram column is sorted along the angle, median filtered across columns,
  and put back in its original order;
* an optional beam-hardening polynomial ``p' = Σ c_k p^k``.

Frame stacks are ``[frame, row, col]``.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage as ndi

__all__ = [
    "beam_hardening_correction",
    "correct_bad_pixels",
    "find_bad_pixels",
    "minus_log",
    "normalize",
    "remove_stripes",
    "remove_zingers",
]


def _frames(name: str, value, ndim_ok=(2, 3)) -> np.ndarray:
    if value is None:
        raise ValueError(f"{name}: required, got None")
    arr = np.asarray(value, dtype=np.float32)
    if arr.size == 0:
        raise ValueError(f"{name}: empty array")
    if arr.ndim not in ndim_ok:
        raise ValueError(f"{name}: expected a frame or a stack of frames, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains NaN or inf values")
    return arr if arr.ndim == 3 else arr[None]


def normalize(
    projections: np.ndarray,
    flats: np.ndarray,
    darks: np.ndarray,
    *,
    angles_deg: np.ndarray | None = None,
    flat_angles_deg: np.ndarray | None = None,
) -> np.ndarray:
    """Flat/dark normalisation to transmission.

    Parameters
    ----------
    projections : ndarray, shape (n_angles, nrows, ncols)
        Raw counts.
    flats : ndarray, shape (n_flats, nrows, ncols) or (nrows, ncols)
        Open-beam frames.  Averaged, unless ``flat_angles_deg`` is given.
    darks : ndarray, shape (n_darks, nrows, ncols) or (nrows, ncols)
        Dark frames (averaged).
    angles_deg : ndarray, shape (n_angles,), optional
        Angle of each projection; needed with ``flat_angles_deg``.
    flat_angles_deg : ndarray, shape (n_flats,), optional
        The scan angle at which each flat was taken (e.g. the first and last
        angle for flats before and after): each projection then uses the flat
        interpolated linearly by angle between the flats around it.

    Returns
    -------
    ndarray, shape (n_angles, nrows, ncols), float32
        Transmission ``(I − D)/(F − D)``.

    Raises
    ------
    ValueError
        No flats or darks, mismatched frame shapes, or ``flat − dark <= 0``.
    """
    proj = _frames("projections", projections, (3,))
    flats = _frames("flats", flats)
    darks = _frames("darks", darks)
    frame = proj.shape[1:]
    for name, arr in (("flats", flats), ("darks", darks)):
        if arr.shape[1:] != frame:
            raise ValueError(
                f"{name}: frame shape {arr.shape[1:]} does not match projections {frame}"
            )
    dark = darks.mean(axis=0)
    if flat_angles_deg is None:
        denom = flats.mean(axis=0) - dark
        _check_denominator(denom)
        return (proj - dark) / denom
    if angles_deg is None:
        raise ValueError("angles_deg: required when flat_angles_deg is given")
    fa = np.asarray(flat_angles_deg, dtype=np.float64).ravel()
    ang = np.asarray(angles_deg, dtype=np.float64).ravel()
    if fa.size != flats.shape[0]:
        raise ValueError(f"flat_angles_deg: {fa.size} angles for {flats.shape[0]} flats")
    if ang.size != proj.shape[0]:
        raise ValueError(f"angles_deg: {ang.size} angles for {proj.shape[0]} projections")
    order = np.argsort(fa)
    fa, fl = fa[order], flats[order] - dark
    _check_denominator(fl)
    out = np.empty_like(proj)
    for i, theta in enumerate(ang):
        k = int(np.clip(np.searchsorted(fa, theta) - 1, 0, max(fa.size - 2, 0)))
        if fa.size == 1:
            flat = fl[0]
        else:
            t = float(np.clip((theta - fa[k]) / (fa[k + 1] - fa[k]), 0.0, 1.0))
            flat = (1 - t) * fl[k] + t * fl[k + 1]
        out[i] = (proj[i] - dark) / flat
    return out


def _check_denominator(denom: np.ndarray) -> None:
    bad = int(np.count_nonzero(~(denom > 0)))
    if bad:
        raise ValueError(
            f"flats: flat − dark is zero or negative at {bad} pixel(s); "
            "mask them with find_bad_pixels/correct_bad_pixels first"
        )


def minus_log(transmission: np.ndarray, min_transmission: float = 1e-6) -> np.ndarray:
    """Line integrals ``−log(max(T, min_transmission))``, float32.

    Parameters
    ----------
    transmission : ndarray
    min_transmission : float
        Clamp below which the transmission is taken as this value (photon
        starvation); must be positive.
    """
    if not min_transmission > 0:
        raise ValueError(f"min_transmission: must be positive, got {min_transmission}")
    t = np.asarray(transmission, dtype=np.float32)
    if np.isnan(t).any():
        raise ValueError("transmission: contains NaN values")
    return -np.log(np.maximum(t, np.float32(min_transmission)))


def find_bad_pixels(
    flats: np.ndarray, darks: np.ndarray, *, threshold: float = 0.5, size: int = 5
) -> np.ndarray:
    """Dead/hot pixel mask from mean flat and dark frames.

    A pixel is bad when its ``flat − dark`` differs from the local median by more
    than ``threshold`` (relative), or is not positive.

    Returns
    -------
    ndarray of bool, shape (nrows, ncols)
    """
    f = _frames("flats", flats).mean(axis=0)
    d = _frames("darks", darks).mean(axis=0)
    if f.shape != d.shape:
        raise ValueError(f"darks: frame shape {d.shape} does not match flats {f.shape}")
    gain = f - d
    med = ndi.median_filter(gain, size=size, mode="reflect")
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(gain - med) / np.abs(med)
    return (gain <= 0) | ~(rel <= threshold)


def correct_bad_pixels(frames: np.ndarray, mask: np.ndarray, size: int = 3) -> np.ndarray:
    """Replace the pixels of ``mask`` in every frame by their local median.

    Parameters
    ----------
    frames : ndarray, shape (n, nrows, ncols) or (nrows, ncols)
    mask : ndarray of bool, shape (nrows, ncols)
    """
    arr = np.array(frames, dtype=np.float32)
    m = np.asarray(mask, dtype=bool)
    if m.shape != arr.shape[-2:]:
        raise ValueError(f"mask: shape {m.shape} does not match frames {arr.shape[-2:]}")
    if not m.any():
        return arr
    stack = arr if arr.ndim == 3 else arr[None]
    for frame in stack:
        med = ndi.median_filter(frame, size=size, mode="reflect")
        frame[m] = med[m]
    return arr


def remove_zingers(frames: np.ndarray, *, threshold: float = 0.3, size: int = 3) -> np.ndarray:
    """Replace single-frame outliers (zingers) by the local 2-D median.

    Parameters
    ----------
    frames : ndarray, shape (n, nrows, ncols) or (nrows, ncols)
        Counts or transmission (positive quantities).
    threshold : float
        Relative deviation from the local median above which a pixel is replaced.
    size : int
        Median window (pixels).

    Returns
    -------
    ndarray, shape of ``frames``, float32
    """
    if size < 3:
        raise ValueError(f"size: must be at least 3, got {size}")
    arr = _frames("frames", frames).copy()
    med = ndi.median_filter(arr, size=(1, size, size), mode="reflect")
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(arr - med) / np.abs(med)
    bad = rel > threshold
    arr[bad] = med[bad]
    return arr if np.ndim(frames) == 3 else arr[0]


def remove_stripes(projections: np.ndarray, size: int = 11) -> np.ndarray:
    """Sorting-based stripe (ring) removal (Vo et al. 2018, algorithm 3).

    Parameters
    ----------
    projections : ndarray, shape (n_angles, nrows, ncols) or (n_angles, ncols)
        Line integrals; each row forms a sinogram ``[angle, col]``.
    size : int
        Median window across columns, pixels (larger removes wider stripes).

    Returns
    -------
    ndarray, same shape, float32
    """
    arr = np.asarray(projections, dtype=np.float32)
    if arr.ndim not in (2, 3):
        raise ValueError(f"projections: expected 2-D or 3-D, got shape {arr.shape}")
    if size < 3:
        raise ValueError(f"size: must be at least 3, got {size}")
    order = np.argsort(arr, axis=0, kind="stable")
    ranked = np.take_along_axis(arr, order, axis=0)
    footprint = (1,) * (arr.ndim - 1) + (int(size),)
    smoothed = ndi.median_filter(ranked, size=footprint, mode="reflect")
    out = np.empty_like(arr)
    np.put_along_axis(out, order, smoothed, axis=0)
    return out


def beam_hardening_correction(projections: np.ndarray, coefficients) -> np.ndarray:
    """Polynomial linearisation ``p' = Σ_k c_k p^k`` (``coefficients[k] = c_k``).

    Parameters
    ----------
    projections : ndarray
        Line integrals.
    coefficients : sequence of float
        ``c_0, c_1, …``; ``(0, 1)`` is the identity.
    """
    c = np.asarray(coefficients, dtype=np.float64).ravel()
    if c.size == 0 or not np.all(np.isfinite(c)):
        raise ValueError("coefficients: need at least one finite coefficient")
    p = np.asarray(projections, dtype=np.float32)
    return np.polynomial.polynomial.polyval(p, c).astype(np.float32)
