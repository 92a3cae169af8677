"""Analysis parameters: defaults filled in, bad input refused with its name."""

from __future__ import annotations

import pytest

from analysis.measurement import normalise_parameters


def test_defaults_are_filled_in_for_every_section():
    params = normalise_parameters("remodelling", {"remodelling": {"min_cluster_voxels": 9}})
    assert set(params) == {"segmentation", "regions", "registration", "remodelling"}
    assert params["remodelling"]["min_cluster_voxels"] == 9
    assert params["remodelling"]["threshold"] is None  # the baseline's segmentation threshold
    assert params["segmentation"] == {"sigma_vox": 1.0, "truncate": 3.0, "threshold_mgha_cm3": None}
    assert params["regions"] == {
        "compartments": "auto", "slab": None, "close_radius_vox": 3, "marrow_close_radius_vox": None,
    }  # fmt: skip
    assert params["registration"]["metric"] == "mattes"


@pytest.mark.parametrize(
    ("kind", "parameters", "message"),
    [
        ("morphometry", {"registration": {}}, "unknown section"),
        ("morphometry", {"segmentation": {"sigma": 1}}, "parameters.segmentation"),
        ("morphometry", {"segmentation": {"sigma_vox": -1}}, "sigma_vox must be >= 0"),
        ("morphometry", {"regions": {"slab": [5, 2]}}, "start < stop"),
        ("morphometry", {"regions": {"compartments": "cortex"}}, "compartments"),
        ("remodelling", {"remodelling": {"connectivity": 4}}, "connectivity"),
        ("histology", {}, "kind"),
    ],
)
def test_bad_parameters_name_what_is_wrong(kind, parameters, message):
    with pytest.raises(ValueError, match=message):
        normalise_parameters(kind, parameters)
