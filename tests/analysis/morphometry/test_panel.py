"""The static morphometry panel in one call."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis.morphometry import static_morphometry

from .phantoms import parallel_plates, rod_cell

VOXEL_UM = 10.0


@pytest.fixture(scope="module")
def plates_panel():
    # 4 plates 5 voxels thick every 16, on 20 × 20 voxels, cut mid-gap.
    return static_morphometry(parallel_plates(4, 5, 16), VOXEL_UM, return_maps=True)


def test_plates_volumes_are_exact(plates_panel):
    voxel_mm3 = (VOXEL_UM * 1e-3) ** 3
    assert plates_panel.tv_mm3 == pytest.approx(64 * 400 * voxel_mm3)
    assert plates_panel.bv_mm3 == pytest.approx(4 * 5 * 400 * voxel_mm3)
    assert plates_panel.bv_tv == 5 / 16


def test_plates_thickness_separation_and_number(plates_panel):
    assert plates_panel.tb_th_um == pytest.approx(5 * VOXEL_UM, rel=0.01)
    assert plates_panel.tb_sp_um == pytest.approx(11 * VOXEL_UM, rel=0.01)
    assert plates_panel.tb_n_per_mm == pytest.approx(1 / (16 * VOXEL_UM * 1e-3), rel=0.01)
    # Plate model: (BS/TV)/2 = one plate per period as well.
    assert plates_panel.tb_n_plate_model_per_mm == pytest.approx(1 / 0.16, rel=1e-6)
    assert plates_panel.tb_th_sd_um == pytest.approx(0.0, abs=1e-3)
    assert plates_panel.tb_th_max_um == pytest.approx(50.0)


def test_plates_surface_and_shape(plates_panel):
    face_mm2 = (VOXEL_UM * 1e-3) ** 2
    assert plates_panel.bs_mm2 == pytest.approx(8 * 400 * face_mm2)
    assert plates_panel.bs_bv_per_mm == pytest.approx(2 / (5 * VOXEL_UM * 1e-3))
    assert plates_panel.smi == pytest.approx(0.0, abs=0.1)
    assert plates_panel.da > 10


def test_maps_are_in_micrometres_and_kept_out_of_the_dict(plates_panel):
    bone = parallel_plates(4, 5, 16)
    assert plates_panel.tb_th_map_um[bone] == pytest.approx(50.0)
    # Inner gaps are 11 voxels; the array border mirrors the cut gaps (5 → 10, 6 → 12).
    inner = ~bone
    inner[:10] = inner[-10:] = False
    assert plates_panel.tb_sp_map_um[inner] == pytest.approx(110.0)
    assert plates_panel.tb_sp_map_um[0, 0, 0] == pytest.approx(100.0)
    data = json.loads(json.dumps(plates_panel.to_dict()))
    assert "tb_th_map_um" not in data
    assert data["bv_tv"] == 5 / 16 and data["thickness_method"] == "subvoxel"


def test_lattice_panel_connectivity_and_isotropy():
    lattice = np.tile(rod_cell(12, 4.0), (4, 4, 4))
    panel = static_morphometry(lattice, VOXEL_UM)
    cell_mm3 = (12 * VOXEL_UM * 1e-3) ** 3
    assert panel.euler_delta == -2 * 64
    assert panel.conn_d_per_mm3 == pytest.approx(2 / cell_mm3, rel=0.015)
    assert panel.da == pytest.approx(1.0, abs=0.02)
    assert panel.bmd_mgha_cm3 is None


def test_region_and_density():
    bone = parallel_plates(4, 5, 16)
    rho = np.where(bone, 1000.0, 50.0)
    region = np.zeros(bone.shape, dtype=bool)
    region[:32] = True  # two whole periods
    panel = static_morphometry(bone, VOXEL_UM, region=region, density_mgha_cm3=rho)
    assert panel.tv_mm3 == pytest.approx(32 * 400 * 1e-6)
    assert panel.bv_tv == 5 / 16
    assert panel.tmd_mgha_cm3 == pytest.approx(1000.0)
    assert panel.bmd_mgha_cm3 == pytest.approx((5 * 1000.0 + 11 * 50.0) / 16)
    assert panel.tb_th_um == pytest.approx(50.0, rel=0.01)


def test_exact_method_is_recorded():
    panel = static_morphometry(parallel_plates(2, 6, 16), VOXEL_UM, subvoxel=False)
    assert panel.thickness_method == "exact"
    assert panel.tb_th_um == pytest.approx(60.0, rel=0.01)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"voxel_um": -1.0}, "voxel_um"),
        ({"bone": np.ones((4, 4), bool)}, "bone"),
        ({"bone": np.ones((4, 4, 4), bool)}, "marrow"),
        ({"region": np.ones((4, 4, 5), bool)}, "region"),
    ],
)
def test_bad_input_is_named(kwargs, name):
    args = {"bone": parallel_plates(2, 4, 8), "voxel_um": VOXEL_UM, **kwargs}
    with pytest.raises(ValueError, match=name):
        static_morphometry(**args)
