"""The dose model and budget arithmetic (acquisition/dose.py), against hand-computed values."""

from __future__ import annotations

import pytest

from acquisition import dose


def test_reference_protocols_span_the_published_range():
    high = dose.nominal_dose_mgy(kv=60, ua=100, exposure_s=0.025, n_projections=1440)
    standard = dose.nominal_dose_mgy(kv=60, ua=100, exposure_s=0.025, n_projections=360)
    low = dose.nominal_dose_mgy(kv=60, ua=50, exposure_s=0.025, n_projections=120)
    assert high == pytest.approx(432.0, rel=1e-12)  # Laperre 2011: 434 mGy at 9 µm
    assert standard == pytest.approx(108.0, rel=1e-12)
    assert low == pytest.approx(18.0, rel=1e-12)  # near the 16 mGy low end


def test_dose_scales_with_kv_squared_and_linearly_with_charge():
    base = dose.nominal_dose_mgy(kv=60, ua=100, exposure_s=0.02, n_projections=100)
    assert dose.nominal_dose_mgy(kv=90, ua=100, exposure_s=0.02, n_projections=100) == (
        pytest.approx(base * 2.25, rel=1e-12)
    )
    assert dose.nominal_dose_mgy(kv=60, ua=200, exposure_s=0.01, n_projections=100) == (
        pytest.approx(base, rel=1e-12)
    )
    assert dose.nominal_dose_mgy(kv=60, ua=100, exposure_s=0.02, n_projections=300) == (
        pytest.approx(3 * base, rel=1e-12)
    )


def test_instrument_calibration_enters_linearly():
    value = dose.nominal_dose_mgy(
        kv=80, ua=100, exposure_s=0.05, n_projections=10,
        dose_constant_mgy_per_uas=0.3, reference_kv=40,
    )  # fmt: skip
    assert value == pytest.approx(0.3 * 4.0 * 100 * 0.05 * 10, rel=1e-12)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("kv", {"kv": 0}),
        ("ua", {"ua": -1}),
        ("exposure_s", {"exposure_s": float("nan")}),
        ("n_projections", {"n_projections": 0}),
        ("n_projections", {"n_projections": 2.5}),
        ("dose_constant_mgy_per_uas", {"dose_constant_mgy_per_uas": 0}),
    ],
)
def test_bad_arguments_are_named(name, kwargs):
    args = {"kv": 60, "ua": 100, "exposure_s": 0.02, "n_projections": 10, **kwargs}
    with pytest.raises(ValueError, match=name):
        dose.nominal_dose_mgy(**args)


def test_partial_dose_is_proportional_to_projections_delivered():
    assert dose.partial_dose_mgy(108.0, 90, 360) == pytest.approx(27.0, rel=1e-12)
    assert dose.partial_dose_mgy(108.0, 0, 360) == 0.0
    assert dose.partial_dose_mgy(108.0, 360, 360) == pytest.approx(108.0)
    with pytest.raises(ValueError, match="n_delivered"):
        dose.partial_dose_mgy(108.0, 361, 360)


def test_budget_allows_up_to_and_including_the_budget():
    exact = dose.check_budget(committed_mgy=400.0, planned_mgy=100.0, budget_mgy=500.0)
    assert exact.allowed
    assert exact.after_mgy == 500.0
    assert exact.remaining_mgy == 100.0
    over = dose.check_budget(committed_mgy=400.0, planned_mgy=100.5, budget_mgy=500.0)
    assert not over.allowed


def test_refusal_message_gives_the_figures():
    check = dose.check_budget(committed_mgy=1440.0, planned_mgy=108.0, budget_mgy=1500.0)
    message = check.message("M01", "tibia-right-proximal")
    assert "Refused before any exposure" in message
    assert "108.0 mGy" in message  # this scan
    assert "1548.0 mGy" in message  # where it would take the animal
    assert "1500.0 mGy" in message  # the budget
    assert "60.0 mGy remaining" in message
    assert "investigator may override" in message


def test_budget_rejects_a_non_positive_budget():
    with pytest.raises(ValueError, match="budget_mgy"):
        dose.check_budget(committed_mgy=0.0, planned_mgy=1.0, budget_mgy=0.0)
