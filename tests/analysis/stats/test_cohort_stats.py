"""Cohort statistics against hand-computed values and a known mixed-model effect."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.cohort_stats import (
    anova_by_time,
    change_from_baseline,
    hedges_g,
    holm,
    mixed_model,
    pairwise_by_time,
    summarise,
    tidy_table,
    welch_t,
    write_csv,
)


@pytest.fixture
def small_table() -> pd.DataFrame:
    rows = [
        ("a1", "sham", 0, 10.0), ("a2", "sham", 0, 12.0), ("a3", "sham", 0, 14.0),
        ("a1", "sham", 28, 11.0), ("a2", "sham", 28, 13.0), ("a3", "sham", 28, 18.0),
        ("b1", "ovx", 0, 11.0), ("b2", "ovx", 0, 13.0),
        ("b1", "ovx", 28, 8.0), ("b2", "ovx", 28, np.nan),
    ]  # fmt: skip
    return tidy_table(pd.DataFrame(rows, columns=["animal", "cohort", "day", "value"]))


def test_summary_matches_hand_computed_values(small_table):
    summary = summarise(small_table).set_index(["cohort", "day"])
    sham0 = summary.loc[("sham", 0.0)]
    assert sham0["n"] == 3 and sham0["mean"] == pytest.approx(12.0)
    assert sham0["sd"] == pytest.approx(2.0)  # deviations -2, 0, 2; ddof = 1
    assert sham0["sem"] == pytest.approx(2.0 / np.sqrt(3))
    sham28 = summary.loc[("sham", 28.0)]
    assert sham28["mean"] == pytest.approx(14.0)
    assert sham28["sd"] == pytest.approx(np.sqrt((9 + 1 + 16) / 2))
    ovx28 = summary.loc[("ovx", 28.0)]  # the NaN is not counted
    assert ovx28["n"] == 1 and ovx28["mean"] == 8.0 and np.isnan(ovx28["sd"])


def test_change_from_baseline_per_animal(small_table):
    change = change_from_baseline(small_table).set_index(["animal", "day"])
    assert change.loc[("a3", 28.0), "change"] == pytest.approx(4.0)
    assert change.loc[("a3", 28.0), "change_pct"] == pytest.approx(100 * 4 / 14)
    assert change.loc[("b1", 28.0), "change_pct"] == pytest.approx(100 * -3 / 11)
    assert np.isnan(change.loc[("b2", 28.0), "change"])


def test_welch_and_hedges_against_scipy_and_formula():
    a = np.array([10.0, 12.0, 14.0, 11.0])
    b = np.array([8.0, 9.0, 7.5])
    t, df, p = welch_t(a, b)
    ref = stats.ttest_ind(a, b, equal_var=False)
    assert t == pytest.approx(ref.statistic) and p == pytest.approx(ref.pvalue)
    nu = 5
    pooled = np.sqrt((3 * a.var(ddof=1) + 2 * b.var(ddof=1)) / nu)
    j = 1 - 3 / (4 * nu - 1)  # Hedges' approximation, within 1 % at ν = 5
    assert hedges_g(a, b) == pytest.approx(j * (a.mean() - b.mean()) / pooled, rel=0.01)


def test_holm_adjustment_by_hand():
    np.testing.assert_allclose(holm(np.array([0.01, 0.04, 0.03])), [0.03, 0.06, 0.06])
    adjusted = holm(np.array([0.2, np.nan, 0.01]))
    assert adjusted[0] == pytest.approx(0.2) and np.isnan(adjusted[1])
    assert adjusted[2] == pytest.approx(0.02)


def test_anova_and_pairwise_tables(small_table):
    anova = anova_by_time(small_table).set_index("day")
    ref = stats.f_oneway([10.0, 12.0, 14.0], [11.0, 13.0])
    assert anova.loc[0.0, "f"] == pytest.approx(ref.statistic)
    assert anova.loc[0.0, "p"] == pytest.approx(ref.pvalue)
    pairs = pairwise_by_time(small_table).set_index("day")
    assert pairs.loc[0.0, "difference"] == pytest.approx(12.0 - 12.0)
    assert np.isnan(pairs.loc[28.0, "t"])  # ovx has a single value on day 28


def _synthetic_study(seed: int = 11) -> pd.DataFrame:
    """BV/TV over 4 time points: sham flat, OVX losing 0.10 %/day; animal offsets."""
    rng = np.random.default_rng(seed)
    rows = []
    for cohort, slope in (("sham", 0.0), ("ovx", -0.10)):
        for k in range(8):
            offset = rng.normal(0.0, 2.0)
            for day in (0, 14, 28, 42):
                value = 20.0 + offset + slope * day + rng.normal(0.0, 0.5)
                rows.append({"animal": f"{cohort}-{k}", "cohort": cohort, "day": day,
                             "value": value, "parameter": "bv_tv"})  # fmt: skip
    return tidy_table(rows)


def test_mixed_model_recovers_the_group_by_time_effect():
    result = mixed_model(_synthetic_study(), reference="sham")
    coef = result.coefficients.set_index("term")
    interaction = coef.loc["cohort[T.ovx]:day"]
    assert interaction["estimate"] < 0
    assert interaction["estimate"] == pytest.approx(-0.10, abs=0.03)
    assert interaction["p"] < 0.05
    assert interaction["ci_low"] < -0.10 < interaction["ci_high"]
    assert abs(coef.loc["day", "estimate"]) < 0.03  # sham is flat
    fit = result.fit.iloc[0]
    assert fit["converged"] and fit["n_animals"] == 16 and fit["n_obs"] == 64
    assert fit["random_intercept_var"] == pytest.approx(4.0, rel=0.8)


def test_mixed_model_without_time_effect_is_not_significant():
    table = _synthetic_study(3)
    table.loc[table["cohort"] == "ovx", "value"] += (
        0.10 * table.loc[table["cohort"] == "ovx", "day"]
    )
    coef = mixed_model(table, reference="sham").coefficients.set_index("term")
    assert coef.loc["cohort[T.ovx]:day", "p"] > 0.01


def test_mixed_model_reports_what_it_cannot_fit():
    table = _synthetic_study()
    one_day = table[table["day"] == 0]
    result = mixed_model(one_day, reference="sham")
    assert result.coefficients["estimate"].isna().all()
    assert "two time points" in result.fit.iloc[0]["note"]
    with pytest.raises(ValueError, match="reference"):
        mixed_model(table, reference="zoledronate")


def test_csv_export_round_trips(tmp_path, small_table):
    summary = summarise(small_table)
    (path,) = write_csv({"summary": summary}, tmp_path)
    assert path.name == "summary.csv"
    back = pd.read_csv(path)
    np.testing.assert_allclose(back["mean"], summary["mean"])
    assert not list(tmp_path.glob(".*partial"))
    with pytest.raises(ValueError, match="table names"):
        write_csv({"bad name": summary}, tmp_path)


def test_tidy_table_rejects_duplicates_and_missing_columns():
    with pytest.raises(ValueError, match="lacks the column"):
        tidy_table([{"animal": "a", "cohort": "c", "day": 0}])
    with pytest.raises(ValueError, match="two values"):
        tidy_table([{"animal": "a", "cohort": "c", "day": 0, "value": 1.0}] * 2)
