"""Bone surface by marching cubes, and SMI from its normal derivative."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.morphometry import surface_area, surface_area_derivative

from .phantoms import ball, cylinder, parallel_plates, slab


def _smi(mask: np.ndarray) -> float:
    area, derivative = surface_area_derivative(mask)
    return 6.0 * mask.sum() * derivative / area**2


def test_plates_across_the_volume_have_exact_surface():
    plates = parallel_plates(3, 5, 14, side=17)
    expected = 3 * 2 * 17 * 17  # the array border is a cut, not a surface
    assert surface_area(plates) == pytest.approx(expected)
    assert surface_area(plates, sigma_vox=0.8) == pytest.approx(expected, rel=1e-6)


def test_smoothed_sphere_surface_is_within_two_percent():
    assert surface_area(ball((40, 40, 40), 12.0), sigma_vox=0.8) == pytest.approx(
        4 * np.pi * 12.0**2, rel=0.02
    )


def test_region_keeps_only_its_share_of_the_surface():
    plates = parallel_plates(2, 4, 12, side=20)
    half = np.zeros(plates.shape, dtype=bool)
    half[:, :, :10] = True
    assert surface_area(plates, region=half) == pytest.approx(0.5 * surface_area(plates))


@pytest.mark.parametrize("direction", [(0.0, 0.0, 1.0), (1.0, 0.4, 0.25)])
def test_smi_of_rods_is_three(direction):
    shape = (48, 48, 48) if direction[2] == 1.0 else (64, 64, 64)
    assert _smi(cylinder(shape, 8.0, direction)) == pytest.approx(3.0, abs=0.05)


@pytest.mark.parametrize("normal", [(0.0, 0.0, 1.0), (1.0, 0.3, 0.2)])
def test_smi_of_plates_is_zero(normal):
    assert _smi(slab((40, 40, 40), 8.0, normal)) == pytest.approx(0.0, abs=0.1)


def test_smi_of_a_sphere_is_four():
    assert _smi(ball((40, 40, 40), 10.0)) == pytest.approx(4.0, abs=0.1)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="step_vox"):
        surface_area_derivative(np.ones((4, 4, 4), bool), step_vox=0.0)
    with pytest.raises(ValueError, match="sigma_vox"):
        surface_area(np.ones((4, 4, 4), bool), sigma_vox=-1.0)
    with pytest.raises(ValueError, match="region"):
        surface_area(np.ones((4, 4, 4), bool), region=np.ones((4, 4), bool))
