"""Automatic cortical/trabecular separation on tibia-like phantoms with known compartments.

The phantom (:func:`acquisition.phantom.make_phantom`, proximal tibia, 10 µm voxels)
knows its true trabecular VOI (the endocortical ellipse) and holds calibration rods
beside the bone. Its cortex is ≈ 4.6 voxels thick; the thick variants add cortex on the
periosteal side (6 voxels all round, or 0 to 6 around the shaft), the trabecular
compartment unchanged.
"""

from __future__ import annotations

import numpy as np
import pytest

from acquisition.phantom import make_phantom
from acquisition.phantom.materials import Tissue
from analysis.segmentation import separate_compartments

from .phantoms import GROWN_VOX, THRESHOLD_MGHA_CM3, thickened, uneven_growth


@pytest.fixture(scope="module")
def phantom():
    return make_phantom("tibia-right-proximal", (64, 128, 128), 10.0, seed=3)


@pytest.mark.parametrize(
    ("cortex", "thickness_vox"),
    [
        ("thin", (4.6, 4.6)),
        ("thick", (4.6 + GROWN_VOX, 4.6 + GROWN_VOX)),
        ("from thin to thick around the shaft", (4.6, 4.6 + GROWN_VOX)),
    ],
)
def test_trabecular_voi_of_thin_thick_and_uneven_cortices(phantom, cortex, thickness_vox):
    if cortex == "thin":
        bone = phantom.density_mgha_cm3 > THRESHOLD_MGHA_CM3
    elif cortex == "thick":
        bone = thickened(phantom, GROWN_VOX)
    else:  # 0 voxels more at -y (beside the insert), 6 at +y
        bone = thickened(phantom, uneven_growth(phantom.shape))
    rods = phantom.labels == Tissue.HA_ROD
    assert (bone & rods).any()  # the 750 mgHA/cm³ rod is segmented as bone
    truth = phantom.trabecular_voi
    true_bv_tv = np.count_nonzero(bone & truth) / np.count_nonzero(truth)

    parts = separate_compartments(bone)
    voi = parts.trabecular
    assert np.count_nonzero(voi & truth) / np.count_nonzero(truth) >= 0.98
    assert np.count_nonzero(voi & ~truth) / np.count_nonzero(voi) <= 0.005
    bv_tv = np.count_nonzero(voi & bone) / np.count_nonzero(voi)
    assert bv_tv == pytest.approx(true_bv_tv, rel=0.05)
    # Objects beside the bone belong to no compartment.
    assert not (parts.envelope & rods).any()
    # The measured thickness sets the scale: within 10 % of the cortex built.
    low, high = thickness_vox
    assert 0.9 * low <= parts.parameters["cortical_thickness_vox"] <= 1.1 * high


def test_a_cut_through_a_trabecular_core_has_no_medulla():
    # Plates along z and y, cut by the field of view: the outer plates look like a
    # compact layer on two sides but no wall of bone encloses the marrow.
    x = np.arange(40)
    bone = np.zeros((24, 30, 40), dtype=bool)
    bone[:, :, (x + 7) % 10 < 4] = True
    parts = separate_compartments(bone)
    assert not parts.trabecular.any()
    assert np.array_equal(parts.cortical, parts.envelope)


def test_a_slab_gives_the_compartments_of_the_whole_bone_there(phantom):
    bone = phantom.density_mgha_cm3 > THRESHOLD_MGHA_CM3
    whole = separate_compartments(bone).trabecular
    slab = np.zeros_like(bone)
    slab[20:40] = True
    part = separate_compartments(bone & slab).trabecular
    # Planes outside the slab are cuts, not the bone's end: the same medulla.
    assert not (part & ~slab).any()
    agree = np.count_nonzero(part[20:40] == whole[20:40]) / whole[20:40].size
    assert agree > 0.999


def test_no_bone_gives_empty_compartments():
    parts = separate_compartments(np.zeros((4, 16, 16), dtype=bool))
    assert not parts.envelope.any() and not parts.trabecular.any()
    assert parts.parameters["cortical_thickness_vox"] == 0.0
