"""The detector model: photon counts, Beer–Lambert, noise statistics, dark, binning."""

from __future__ import annotations

import numpy as np
import pytest

from acquisition.simulator import DetectorModel, expose, flat_field_pattern

MODEL = DetectorModel()


def test_open_beam_photons_scale_with_charge_kv_squared_and_inverse_square_distance():
    n0 = MODEL.open_beam_photons(60.0, 100.0, 0.025, 250_000.0)
    assert n0 == pytest.approx(3200.0 * 100.0 * 0.025)
    assert MODEL.open_beam_photons(60.0, 200.0, 0.025, 250_000.0) == pytest.approx(2 * n0)
    assert MODEL.open_beam_photons(60.0, 100.0, 0.05, 250_000.0) == pytest.approx(2 * n0)
    assert MODEL.open_beam_photons(120.0, 100.0, 0.025, 250_000.0) == pytest.approx(4 * n0)
    assert MODEL.open_beam_photons(60.0, 100.0, 0.025, 500_000.0) == pytest.approx(n0 / 4)
    with pytest.raises(ValueError, match="positive"):
        MODEL.open_beam_photons(60.0, 0.0, 0.025, 250_000.0)


@pytest.mark.parametrize("binning", [1, 2])
def test_mean_and_variance_follow_beer_lambert_and_poisson(binning):
    shape, p, n0 = (256, 256), 0.7, 2000.0
    flat = flat_field_pattern(shape, binning, MODEL, seed=3)
    image = expose(
        np.full(shape, p, np.float32),
        open_beam_photons=n0,
        flat=flat,
        exposure_s=0.025,
        binning=binning,
        model=MODEL,
        rng=np.random.default_rng(0),
    ).astype(np.float64)
    dark = MODEL.dark_offset_adu + MODEL.dark_current_adu_per_s * 0.025
    expected = n0 * flat * np.exp(-p)
    normalised = (image - dark) / expected
    assert normalised.mean() == pytest.approx(1.0, abs=0.002)
    # Var(ADU) = N / b² (mean of b² Poisson pixels) + (read noise / b)² + rounding 1/12.
    variance = expected / binning**2 + (MODEL.read_noise_adu / binning) ** 2 + 1 / 12
    assert ((image - dark - expected) ** 2 / variance).mean() == pytest.approx(1.0, abs=0.03)


def test_dark_frame_is_offset_plus_dark_current_with_read_noise():
    flat = flat_field_pattern((128, 128), 1, MODEL, seed=1)
    image = expose(
        None,
        open_beam_photons=5000.0,
        flat=flat,
        exposure_s=2.0,
        binning=1,
        model=MODEL,
        rng=np.random.default_rng(2),
    ).astype(np.float64)
    assert image.mean() == pytest.approx(100.0 + 2.0 * 2.0, abs=0.05)
    assert image.std() == pytest.approx(np.hypot(1.6, np.sqrt(1 / 12)), rel=0.05)


def test_bright_beam_saturates_at_the_16_bit_limit():
    flat = np.ones((8, 8), np.float32)
    image = expose(
        np.zeros((8, 8), np.float32),
        open_beam_photons=1e6,
        flat=flat,
        exposure_s=0.01,
        binning=1,
        model=MODEL,
        rng=np.random.default_rng(0),
    )
    assert image.dtype == np.uint16
    assert np.all(image == 65535)


def test_flat_field_is_brightest_in_the_middle_and_fixed_by_its_seed():
    flat = flat_field_pattern((64, 64), 1, MODEL, seed=5)
    assert np.array_equal(flat, flat_field_pattern((64, 64), 1, MODEL, seed=5))
    assert not np.array_equal(flat, flat_field_pattern((64, 64), 1, MODEL, seed=6))
    centre = flat[28:36, 28:36].mean()
    corner = flat[:8, :8].mean()
    # Vignetting 12 %·(u² + v²)/2 reaches ≈ 0.88 in the corner, heel effect −4 % at the top.
    assert centre == pytest.approx(1.0, abs=0.01)
    assert corner == pytest.approx(0.89 * 0.963, abs=0.02)
