"""The digital bone phantom: anatomy, trabecular structure, calibration insert, seeding."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from skimage.measure import marching_cubes, mesh_surface_area

from acquisition.phantom import SITES, Tissue, attenuation_per_cm, make_phantom
from acquisition.phantom.materials import HA_SLOPE_PER_CM_PER_MGHA, MU_WATER_PER_CM


@pytest.fixture(scope="module", params=["tibia-right-proximal", "L5-vertebra"])
def phantom(request):
    return make_phantom(request.param, shape=(96, 128, 128), voxel_um=10.0, seed=3)


def test_sites_cover_the_tibia_and_the_l5_vertebra():
    assert {"tibia-left-proximal", "tibia-right-proximal", "L5-vertebra"} <= set(SITES)
    with pytest.raises(ValueError, match="site must be one of"):
        make_phantom("skull", shape=(32, 32, 32))


def test_every_tissue_is_present_and_nested(phantom):
    labels = phantom.labels
    for tissue in Tissue:
        assert np.any(labels == tissue), tissue.name
    # Trabecular bone only inside the marrow compartment, cortex outside it.
    assert not np.any((labels == Tissue.TRABECULAR_BONE) & ~phantom.trabecular_voi)
    assert not np.any((labels == Tissue.CORTICAL_BONE) & phantom.trabecular_voi)


def _plate_model_um(bone: np.ndarray, bv_tv: float, voxel_um: float) -> tuple[float, float]:
    """Parallel-plate Tb.Th = 2·BV/BS and Tb.Sp = Tb.Th·(1/BV/TV − 1) (Parfitt 1983).

    BS is the area of the marching-cubes surface of the lightly smoothed bone mask.
    """
    smooth = ndimage.gaussian_filter(bone.astype(np.float32), 0.7)
    verts, faces, _, _ = marching_cubes(smooth, 0.5)
    tb_th = 2.0 * np.count_nonzero(bone) / mesh_surface_area(verts, faces) * voxel_um
    return tb_th, tb_th * (1.0 / bv_tv - 1.0)


@pytest.mark.parametrize("site", ["tibia-right-proximal", "L5-vertebra"])
def test_trabecular_structure_is_in_the_mouse_ranges(site):
    phantom = make_phantom(site, shape=(128, 128, 128), voxel_um=10.0, seed=3)
    assert 0.10 <= phantom.bv_tv <= 0.30
    tb_th, tb_sp = _plate_model_um(phantom.trabecular_bone, phantom.bv_tv, phantom.voxel_um)
    assert 30.0 <= tb_th <= 70.0
    assert 150.0 <= tb_sp <= 300.0


def test_calibration_rods_carry_their_nominal_densities(phantom):
    densities = sorted(r.density_mgha_cm3 for r in phantom.calibration_rods)
    assert densities == [0.0, 250.0, 750.0]
    mu = phantom.mu_per_cm
    for rod in phantom.calibration_rods:
        k = phantom.shape[0] // 2
        j = int(round(rod.y_um / phantom.voxel_um + (phantom.shape[1] - 1) / 2))
        i = int(round(rod.x_um / phantom.voxel_um + (phantom.shape[2] - 1) / 2))
        assert phantom.labels[k, j, i] == Tissue.HA_ROD
        expected = MU_WATER_PER_CM + HA_SLOPE_PER_CM_PER_MGHA * rod.density_mgha_cm3
        assert mu[k, j, i] == pytest.approx(expected, rel=1e-6)


def test_attenuation_of_cortical_bone_is_that_of_1150_mgha(phantom):
    mu = attenuation_per_cm(phantom.labels, phantom.density_mgha_cm3)
    cortex = mu[phantom.labels == Tissue.CORTICAL_BONE]
    assert np.allclose(cortex, 0.268 + 0.90e-3 * 1150.0)


def test_same_seed_same_phantom_other_seed_another():
    a = make_phantom("tibia-right-proximal", shape=(48, 48, 48), voxel_um=20.0, seed=5)
    b = make_phantom("tibia-right-proximal", shape=(48, 48, 48), voxel_um=20.0, seed=5)
    c = make_phantom("tibia-right-proximal", shape=(48, 48, 48), voxel_um=20.0, seed=6)
    assert np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.labels, c.labels)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"shape": (8, 32, 32)}, "shape"), ({"voxel_um": 0.1}, "voxel_um"), ({"seed": -1}, "seed")],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_phantom("L5-vertebra", **{"shape": (32, 32, 32), **kwargs})


def test_every_site_of_the_vocabulary_has_a_phantom():
    vocabulary = {
        "tibia-left-proximal",
        "tibia-right-proximal",
        "femur-left-distal",
        "femur-right-distal",
        "L5-vertebra",
        "caudal-vertebra-6",
    }  # studies.vocabulary.AnatomicalSite values (importing it needs Django)
    assert set(SITES) == vocabulary
    for site in SITES:
        phantom = make_phantom(site, shape=(32, 32, 32), voxel_um=40.0, seed=1)
        assert np.any(phantom.labels == Tissue.CORTICAL_BONE), site
