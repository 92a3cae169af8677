"""Local thickness (Tb.Th, Tb.Sp) against analytic phantoms and a brute-force reference."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.morphometry import local_thickness, thickness_stats

from .phantoms import parallel_plates, rod_cell, rod_lattice


def _mean(mask: np.ndarray, subvoxel: bool, region: np.ndarray | None = None) -> float:
    return thickness_stats(local_thickness(mask, subvoxel=subvoxel), 1.0, region).mean_um


def brute_force_local_thickness(cell: np.ndarray) -> np.ndarray:
    """τ(p) = max{2 d(c) : |p − c| < d(c)} on a periodic cell, by exhaustive search.

    ``d(c)`` is the distance from structure voxel ``c`` to the nearest background
    voxel, with the cell repeated periodically; every structure voxel is a centre.
    """
    n = cell.shape[0]
    fg = np.argwhere(cell)
    bg = np.argwhere(~cell)

    def periodic(delta: np.ndarray) -> np.ndarray:
        return (delta + n // 2) % n - n // 2

    # Squared distances stay exact integers: a voxel at exactly d from c is outside.
    d2 = np.empty(len(fg), dtype=np.int64)
    for s in range(0, len(fg), 256):
        delta = periodic(fg[s : s + 256, None, :] - bg[None, :, :])
        d2[s : s + 256] = (delta**2).sum(-1).min(axis=1)
    tau = np.empty(len(fg))
    for s in range(0, len(fg), 256):
        dist2 = (periodic(fg[s : s + 256, None, :] - fg[None, :, :]) ** 2).sum(-1)
        tau[s : s + 256] = np.where(dist2 < d2[None, :], 2 * np.sqrt(d2)[None, :], 0).max(axis=1)
    out = np.zeros(cell.shape)
    out[cell] = tau
    return out


@pytest.mark.parametrize(("t", "p"), [(5, 16), (4, 12), (3, 11)])
def test_parallel_plates_subvoxel_thickness_and_separation(t, p):
    plates = parallel_plates(4, t, p)
    assert plates.mean() == t / p  # BV/TV exact
    assert _mean(plates, True) == pytest.approx(t, rel=0.01)
    assert _mean(~plates, True) == pytest.approx(p - t, rel=0.01)


@pytest.mark.parametrize(("t", "p"), [(6, 16), (4, 10)])
def test_parallel_plates_exact_thickness_for_even_sizes(t, p):
    # The digital definition measures to background voxel centres: exact for even
    # plates and gaps, one voxel thicker for odd ones.
    plates = parallel_plates(4, t, p)
    assert _mean(plates, False) == pytest.approx(t, rel=0.01)
    assert _mean(~plates, False) == pytest.approx(p - t, rel=0.01)


def test_odd_plate_is_one_voxel_thicker_in_the_digital_definition():
    plates = parallel_plates(3, 5, 16)
    assert _mean(plates, False) == pytest.approx(6.0)


def test_rod_lattice_matches_the_brute_force_digital_reference():
    cell = rod_cell(24, 8.0)
    reference = brute_force_local_thickness(cell)
    lattice = np.tile(cell, (3, 3, 3))  # the middle cell sees its periodic neighbours
    fast = local_thickness(lattice)[24:48, 24:48, 24:48]
    # The fast method is exact: equal up to float32 rounding, voxel by voxel.
    np.testing.assert_allclose(fast[cell], reference[cell], rtol=1e-6)
    assert reference[cell].mean() == pytest.approx(7.727, abs=1e-3)  # literature value
    assert fast[cell].mean() == pytest.approx(reference[cell].mean(), rel=0.01)


def test_rod_lattice_marrow_matches_the_brute_force_reference():
    cell = ~rod_cell(16, 6.0)
    reference = brute_force_local_thickness(cell)
    fast = local_thickness(np.tile(cell, (3, 3, 3)))[16:32, 16:32, 16:32]
    np.testing.assert_allclose(fast[cell], reference[cell], rtol=1e-6)


N_ROT = 132  # 4 periods inside a margin of 18 voxels (larger than any marrow ball)
REGION = np.zeros((N_ROT,) * 3, dtype=bool)
REGION[18:114, 18:114, 18:114] = True
# Continuous Tb.Sp of the lattice (period 24, rod diameter 8): the volume mean of
# max{2D(c) : |p - c| < D(c)} with D the exact distance to the rod surfaces, by
# exhaustive search over ball centres on a 1/8-voxel grid at 6 000 random marrow
# points (standard error 0.06). Its largest ball, at the cell centre, has the
# diameter 2 (12√2 − 4) = 25.94.
CONTINUOUS_TB_SP = 24.35
LARGEST_MARROW_BALL = 2.0 * (12.0 * np.sqrt(2.0) - 4.0)


@pytest.fixture(scope="module")
def aligned_lattice_figures() -> dict[bool, tuple[float, float]]:
    lattice = rod_lattice(N_ROT, 24.0, 8.0)
    return {
        sub: (_mean(lattice, sub, REGION & lattice), _mean(~lattice, sub, REGION & ~lattice))
        for sub in (True, False)
    }


def test_aligned_lattice_subvoxel_separation_matches_the_continuous_value(
    aligned_lattice_figures,
):
    # Balls centred on their voxel instead of their sub-voxel apex gave 25.10 (+3 %):
    # shifted half a voxel towards the rods, they painted the crevices beside them.
    assert aligned_lattice_figures[True][1] == pytest.approx(CONTINUOUS_TB_SP, rel=0.015)


@pytest.mark.parametrize(
    "angles",
    [(17.0, 29.0, 41.0), (5.0, -12.0, 33.0), (45.0, 35.26, 0.0), (30.0, 60.0, 80.0)],
)
def test_rotated_lattice_subvoxel_thickness_and_separation_move_by_under_3_percent(
    aligned_lattice_figures, angles
):
    lattice = rod_lattice(N_ROT, 24.0, 8.0, angles)
    th = _mean(lattice, True, REGION & lattice)
    sp_map = local_thickness(~lattice, subvoxel=True)
    sp = thickness_stats(sp_map, 1.0, REGION & ~lattice).mean_um
    th0, sp0 = aligned_lattice_figures[True]
    assert th == pytest.approx(th0, rel=0.03)
    assert sp == pytest.approx(sp0, rel=0.03)
    assert sp == pytest.approx(CONTINUOUS_TB_SP, rel=0.03)
    assert sp_map[REGION].max() == pytest.approx(LARGEST_MARROW_BALL, rel=0.03)
    # The digital definition shifts Tb.Th by ~+8 % on the same rotations.
    digital = _mean(lattice, False, REGION & lattice)
    assert digital / aligned_lattice_figures[False][0] > 1.06


def test_thickness_map_statistics_are_in_micrometres():
    plates = parallel_plates(2, 4, 12)
    stats = thickness_stats(local_thickness(plates, subvoxel=True), 10.0)
    assert stats.mean_um == pytest.approx(40.0)
    assert stats.sd_um == pytest.approx(0.0, abs=1e-4)
    assert stats.max_um == pytest.approx(40.0)
    assert stats.n_voxels == plates.sum()


def test_single_voxel_and_empty_structure():
    mask = np.zeros((5, 5, 5), dtype=bool)
    assert np.isnan(thickness_stats(local_thickness(mask), 1.0).mean_um)
    mask[2, 2, 2] = True
    assert local_thickness(mask, subvoxel=True)[2, 2, 2] == pytest.approx(1.0)
    assert local_thickness(mask)[2, 2, 2] == pytest.approx(2.0)


def test_structure_filling_the_volume_is_framed_by_background():
    thickness = local_thickness(np.ones((5, 9, 9), dtype=bool), subvoxel=True)
    assert thickness[2, 4, 4] == pytest.approx(5.0)


def test_rejects_a_2d_mask_and_a_mismatched_region():
    with pytest.raises(ValueError, match="mask"):
        local_thickness(np.ones((4, 4), dtype=bool))
    with pytest.raises(ValueError, match="region"):
        thickness_stats(np.ones((4, 4, 4)), 1.0, np.ones((4, 4, 5), dtype=bool))
