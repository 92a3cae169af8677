"""Ramp filtering of projections along detector rows.

The discrete ramp is the band-limited spatial-domain kernel of Kak & Slaney
(*Principles of Computerized Tomographic Imaging*, IEEE Press 1988, eq. 3.61):
``h(0) = 1/(4τ²)``, ``h(n) = -1/(n π τ)²`` for odd ``n``, 0 for even ``n``;
its Fourier transform (zero-padded to at least twice the row length, so that the
circular convolution equals the linear one) is multiplied by an apodisation
window and applied with :mod:`scipy.fft` using several workers.

Backprojection reads the filtered rows by linear interpolation, whose transfer
function ``sinc²(f)`` (0.41 at the Nyquist frequency, ``f`` in cycles per sample)
blurs the image on top of the chosen window.  :func:`apply_ramp_filter` can
therefore return each filtered row band-limited-interpolated onto a grid ``L``
times finer (the inverse FFT of the zero-extended spectrum: exact at the
original samples, no extra FFT), so that linear interpolation between the finer
samples loses only ``sinc²(f / L)`` (0.81 at Nyquist for ``L = 2``).
"""

from __future__ import annotations

import os

import numpy as np
import scipy.fft

__all__ = ["FILTERS", "apply_ramp_filter", "filter_length", "ramp_filter"]

FILTERS = ("ram-lak", "shepp-logan", "cosine", "hamming", "hann")
"""Apodisation windows accepted by :func:`ramp_filter`."""


FFT_CHUNK_ROWS = 256
"""Rows transformed per FFT call: bounds the FFT temporaries whatever the batch size."""


def _workers() -> int:
    return max(1, os.cpu_count() or 1)


def filter_length(n_cols: int) -> int:
    """FFT length used for rows of ``n_cols`` samples: a fast size ≥ ``2 · n_cols``."""
    return scipy.fft.next_fast_len(2 * int(n_cols), real=True)


def ramp_filter(
    n_cols: int, spacing_cm: float, window: str = "ram-lak", upsampling: int = 1
) -> np.ndarray:
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
    upsampling : int
        ``L``: the response is meant for an inverse FFT of length ``L · n_pad``
        (output ``L`` samples per column, see :func:`apply_ramp_filter`), so it is
        scaled by ``L`` and, for even ``n_pad``, its Nyquist bin is halved (that bin
        stands for ±f together; in the longer transform it is one-sided and counts
        twice).  The samples at whole columns are then those of ``L = 1``.

    Returns
    -------
    ndarray, shape (n_pad // 2 + 1,)
        Real response for :func:`scipy.fft.rfft` of length
        ``n_pad = next_fast_len(2 * n_cols)``, including the factor ``τ`` of the
        discrete convolution (units 1/cm).
    """
    upsampling = int(upsampling)
    if upsampling < 1:
        raise ValueError(f"upsampling: must be a positive integer, got {upsampling}")
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
    if upsampling > 1:
        response *= upsampling
        if n_pad % 2 == 0:
            response[-1] *= 0.5
    return response


def apply_ramp_filter(
    projections: np.ndarray, spacing_cm: float, window: str = "ram-lak", upsampling: int = 1
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
    upsampling : int
        Filtered samples returned per input column, ``L ≥ 1``: sample ``j`` lies at
        column ``j / L`` (band-limited interpolation of the filtered row, so
        ``out[..., ::L]`` is the ``L = 1`` result).

    Returns
    -------
    ndarray, shape (..., L · ncols), float32
    """
    p = np.asarray(projections, dtype=np.float32)
    n_cols = p.shape[-1]
    response = ramp_filter(n_cols, spacing_cm, window, upsampling).astype(np.float32)
    n_pad = filter_length(n_cols)
    n_long = int(upsampling) * n_pad
    n_out = int(upsampling) * n_cols
    rows = p.reshape(-1, n_cols)
    out = np.empty((rows.shape[0], n_out), dtype=np.float32)
    for r0 in range(0, rows.shape[0], FFT_CHUNK_ROWS):
        chunk = rows[r0 : r0 + FFT_CHUNK_ROWS]
        spectrum = scipy.fft.rfft(chunk, n=n_pad, axis=-1, workers=_workers())
        spectrum *= response
        # A longer inverse transform zero-extends the spectrum: band-limited interpolation.
        out[r0 : r0 + FFT_CHUNK_ROWS] = scipy.fft.irfft(
            spectrum, n=n_long, axis=-1, workers=_workers()
        )[:, :n_out]
        del spectrum
    return out.reshape(*p.shape[:-1], n_out)
