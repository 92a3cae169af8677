"""The ramp filter's finer output grid (``upsampling``) against the plain filter."""

import numpy as np
import pytest

from recon.engine.filters import apply_ramp_filter, filter_length

SPACING_CM = 1e-3


SIGMA_PX = 2.0
CENTRE = 23


def _gaussian_rows(n_cols: int, shift_px: float) -> np.ndarray:
    """Unit Gaussians of σ = 2 columns centred on column 23 − shift, two rows, float32.

    Band-limited: the spectrum at the Nyquist frequency is exp(−2π²σ²/4) ≈ 3e-9.
    """
    c = np.arange(n_cols) - CENTRE + shift_px
    g = np.exp(-(c**2) / (2 * SIGMA_PX**2))
    return np.stack([g, 0.5 * g]).astype(np.float32)


@pytest.mark.parametrize("n_cols, n_pad", [(48, 96), (37, 75)])  # even and odd FFT lengths
@pytest.mark.parametrize("upsampling", [2, 3])
def test_whole_columns_are_the_plain_filter(n_cols, n_pad, upsampling):
    assert filter_length(n_cols) == n_pad
    rows = np.random.default_rng(0).random((3, n_cols)).astype(np.float32)
    plain = apply_ramp_filter(rows, SPACING_CM)
    fine = apply_ramp_filter(rows, SPACING_CM, upsampling=upsampling)
    assert fine.shape == (3, upsampling * n_cols) and fine.dtype == np.float32
    # The Nyquist bin, if counted twice, would add ±(its value) to every whole column.
    np.testing.assert_allclose(fine[:, ::upsampling], plain, atol=1e-6 * np.abs(plain).max())


def test_samples_between_columns_are_the_filtered_row_there():
    """Odd samples of ``upsampling=2`` = the filter applied to the row shifted half a column."""
    n_cols = 64
    fine = apply_ramp_filter(_gaussian_rows(n_cols, 0.0), SPACING_CM, upsampling=2)
    shifted = apply_ramp_filter(_gaussian_rows(n_cols, 0.5), SPACING_CM)
    # Ramp-filtered unit Gaussian at its centre: ∫|ν| σ√(2π) exp(−2π²σ²ν²) dν
    # = √(2π) / (2π² σ), σ in cm (63.5 /cm for σ = 20 µm).
    sigma_cm = SIGMA_PX * SPACING_CM
    assert fine[0, 2 * CENTRE] == pytest.approx(
        np.sqrt(2 * np.pi) / (2 * np.pi**2 * sigma_cm), rel=2e-3
    )
    np.testing.assert_allclose(fine[:, 1::2], shifted, atol=1e-5 * np.abs(shifted).max())


def test_bad_upsampling_is_rejected():
    with pytest.raises(ValueError, match="upsampling"):
        apply_ramp_filter(np.ones((2, 8), np.float32), SPACING_CM, upsampling=0)
