"""Ramp filtering of projections along detector rows.

The discrete ramp is the band-limited spatial-domain kernel of Kak & Slaney
(*Principles of Computerized Tomographic Imaging*, IEEE Press 1988, eq. 3.61):
``h(0) = 1/(4τ²)``, ``h(n) = -1/(n π τ)²`` for odd ``n``, 0 for even ``n``;
its Fourier transform (zero-padded to at least twice the row length, so that the
circular convolution equals the linear one) is multiplied by an apodisation
window and applied with :mod:`scipy.fft` using several workers.
"""

from __future__ import annotations

import os

import numpy as np
import scipy.fft

__all__ = ["FILTERS", "apply_ramp_filter", "filter_length", "ramp_filter"]

FILTERS = ("ram-lak", "shepp-logan", "cosine", "hamming", "hann")
"""Apodisation windows accepted by :func:`ramp_filter`."""


def _workers() -> int:
    return max(1, os.cpu_count() or 1)


def filter_length(n_cols: int) -> int:
    """FFT length used for rows of ``n_cols`` samples: a fast size ≥ ``2 · n_cols``."""
    return scipy.fft.next_fast_len(2 * int(n_cols), real=True)


def ramp_filter(n_cols: int, spacing_cm: float, window: str = "ram-lak") -> np.ndarray:
    """Frequency response of the apodised discrete ramp filter.

    Parameters
    ----------
    n_cols : int
        Length of a detector row.
    spacing_cm : float
        Sample spacing ``τ`` along the row, cm (at the rotation axis for cone beam).
    window : {"ram-lak", "shepp-logan", "cosine", "hamming", "hann"}
        Apodisation; with ``f`` the frequency in cycles per sample (``|f| <= 1/2``):
        shepp-logan ``sinc(f)``, cosine ``cos(π f)``, hamming ``0.54 + 0.46 cos(2π f)``,
        hann ``(1 + cos(2π f)) / 2``.

    Returns
    -------
    ndarray, shape (n_pad // 2 + 1,)
        Real response for :func:`scipy.fft.rfft` of length
        ``n_pad = next_fast_len(2 * n_cols)``, including the factor ``τ`` of the
        discrete convolution (units 1/cm).
    """
    if window not in FILTERS:
        raise ValueError(f"filter: expected one of {FILTERS}, got {window!r}")
    if n_cols < 1:
        raise ValueError(f"n_cols: must be positive, got {n_cols}")
    n_pad = filter_length(n_cols)
    n = np.arange(n_pad)
    n = np.where(n > n_pad // 2, n - n_pad, n)
    h = np.zeros(n_pad)
    h[0] = 1.0 / (4.0 * spacing_cm**2)
    odd = n % 2 == 1
    h[odd] = -1.0 / (np.pi * n[odd] * spacing_cm) ** 2
    response = np.real(scipy.fft.rfft(h)) * spacing_cm
    f = scipy.fft.rfftfreq(n_pad)
    if window == "shepp-logan":
        response *= np.sinc(f)
    elif window == "cosine":
        response *= np.cos(np.pi * f)
    elif window == "hamming":
        response *= 0.54 + 0.46 * np.cos(2 * np.pi * f)
    elif window == "hann":
        response *= 0.5 + 0.5 * np.cos(2 * np.pi * f)
    return response


def apply_ramp_filter(
    projections: np.ndarray, spacing_cm: float, window: str = "ram-lak"
) -> np.ndarray:
    """Filter every detector row of a projection stack with the ramp filter.

    Parameters
    ----------
    projections : ndarray, shape (..., ncols)
        Weighted line integrals.
    spacing_cm : float
        Column spacing, cm.
    window : str
        See :func:`ramp_filter`.

    Returns
    -------
    ndarray, same shape, float32
    """
    n_cols = projections.shape[-1]
    response = ramp_filter(n_cols, spacing_cm, window).astype(np.float32)
    n_pad = filter_length(n_cols)
    spectrum = scipy.fft.rfft(
        np.asarray(projections, dtype=np.float32), n=n_pad, axis=-1, workers=_workers()
    )
    spectrum *= response
    out = scipy.fft.irfft(spectrum, n=n_pad, axis=-1, workers=_workers())
    del spectrum
    return np.ascontiguousarray(out[..., :n_cols], dtype=np.float32)
