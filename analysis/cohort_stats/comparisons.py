"""Comparisons between cohorts at each time point.

Per parameter and study day: a one-way ANOVA across the cohorts, and every pair of
cohorts compared with Welch's t-test (unequal variances), its p-values adjusted
with Holm's step-down method over the pairs of that day, and Hedges' g as the
effect size.

References
----------
.. [1] Welch BL. The generalization of "Student's" problem when several different
   population variances are involved. Biometrika 1947;34:28-35.
.. [2] Holm S. A simple sequentially rejective multiple test procedure.
   Scand J Stat 1979;6:65-70.
.. [3] Hedges LV. Distribution theory for Glass's estimator of effect size and
   related estimators. J Educ Stat 1981;6:107-128.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
from scipy import special, stats

from .descriptive import _checked

__all__ = ["anova_by_time", "hedges_g", "holm", "pairwise_by_time", "welch_t"]


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of p-values for multiple comparisons.

    Parameters
    ----------
    p_values : array_like of float
        Unadjusted p-values in [0, 1]; NaN entries are left out of the family and
        stay NaN.

    Returns
    -------
    ndarray of float
        Adjusted p-values, in the input order: with the ``m`` finite p-values
        sorted ascending, ``p_adj(i) = max_{j <= i} min(1, (m - j + 1) p(j))``.
    """
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"p_values must be one-dimensional, got shape {p.shape}")
    finite = ~np.isnan(p)
    if ((p[finite] < 0) | (p[finite] > 1)).any():
        raise ValueError("p_values must lie in [0, 1]")
    out = np.full(p.shape, np.nan)
    index = np.flatnonzero(finite)
    order = index[np.argsort(p[index], kind="stable")]
    m = order.size
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def welch_t(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Welch's two-sample t-test (two-sided).

    Parameters
    ----------
    a, b : array_like of float
        The two samples; NaN entries are dropped.

    Returns
    -------
    t, df, p : float
        The statistic for ``mean(a) - mean(b)``, the Welch–Satterthwaite degrees of
        freedom and the two-sided p-value; all NaN when a sample has fewer than two
        values or both variances are zero.
    """
    a, b = _finite(a), _finite(b)
    if a.size < 2 or b.size < 2:
        return (np.nan, np.nan, np.nan)
    va, vb = np.var(a, ddof=1) / a.size, np.var(b, ddof=1) / b.size
    if va + vb == 0:
        return (np.nan, np.nan, np.nan)
    t = (np.mean(a) - np.mean(b)) / np.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    return (float(t), float(df), float(2.0 * stats.t.sf(abs(t), df)))


def hedges_g(a: np.ndarray, b: np.ndarray) -> float:
    """Hedges' g: the standardised mean difference with small-sample correction.

    Parameters
    ----------
    a, b : array_like of float
        The two samples; NaN entries are dropped.

    Returns
    -------
    float
        ``g = J(ν) (mean(a) - mean(b)) / s_pooled`` with ``ν = n_a + n_b - 2`` and
        the exact correction ``J(ν) = Γ(ν/2) / (√(ν/2) Γ((ν-1)/2))``; NaN when a
        sample has fewer than two values or the pooled SD is zero.
    """
    a, b = _finite(a), _finite(b)
    if a.size < 2 or b.size < 2:
        return float("nan")
    nu = a.size + b.size - 2
    pooled = np.sqrt(((a.size - 1) * np.var(a, ddof=1) + (b.size - 1) * np.var(b, ddof=1)) / nu)
    if pooled == 0:
        return float("nan")
    j = np.exp(special.gammaln(nu / 2) - special.gammaln((nu - 1) / 2)) / np.sqrt(nu / 2)
    return float(j * (np.mean(a) - np.mean(b)) / pooled)


def anova_by_time(table: pd.DataFrame) -> pd.DataFrame:
    """One-way ANOVA across cohorts, per parameter and study day.

    Parameters
    ----------
    table : DataFrame
        A tidy table.

    Returns
    -------
    DataFrame
        Columns ``parameter, day, k, n, f, df_between, df_within, p``: ``k`` cohorts
        with at least one value, ``n`` values in all. ``f`` and ``p`` are NaN when
        fewer than two cohorts, no within-cohort degree of freedom or no
        within-cohort variance is left.
    """
    frame = _checked(table, "value")
    rows = []
    for (parameter, day), group in frame.groupby(["parameter", "day"], sort=True):
        samples = [s for s in _samples(group).values() if s.size]
        k = len(samples)
        n = int(sum(s.size for s in samples))
        f = p = np.nan
        if k >= 2 and n > k:
            grand = np.mean(np.concatenate(samples))
            ss_between = sum(s.size * (np.mean(s) - grand) ** 2 for s in samples)
            ss_within = sum(((s - np.mean(s)) ** 2).sum() for s in samples)
            if ss_within > 0:
                f = (ss_between / (k - 1)) / (ss_within / (n - k))
                p = float(stats.f.sf(f, k - 1, n - k))
        rows.append((parameter, day, k, n, f, k - 1, n - k, p))
    return pd.DataFrame(
        rows, columns=["parameter", "day", "k", "n", "f", "df_between", "df_within", "p"]
    )


def pairwise_by_time(table: pd.DataFrame) -> pd.DataFrame:
    """Welch t-tests between every pair of cohorts, per parameter and study day.

    Parameters
    ----------
    table : DataFrame
        A tidy table.

    Returns
    -------
    DataFrame
        Columns ``parameter, day, cohort_a, cohort_b, n_a, n_b, mean_a, mean_b,
        difference (mean_a - mean_b), t, df, p, p_holm, hedges_g``. ``p_holm`` is
        Holm-adjusted over the pairs of the same parameter and day. Pairs with a
        cohort of fewer than two values have NaN statistics (and leave the family).
    """
    frame = _checked(table, "value")
    columns = [
        "parameter", "day", "cohort_a", "cohort_b", "n_a", "n_b", "mean_a", "mean_b",
        "difference", "t", "df", "p", "p_holm", "hedges_g",
    ]  # fmt: skip
    blocks = []
    for (parameter, day), group in frame.groupby(["parameter", "day"], sort=True):
        samples = _samples(group)
        rows = []
        for name_a, name_b in combinations(sorted(samples), 2):
            a, b = samples[name_a], samples[name_b]
            mean_a = float(np.mean(a)) if a.size else np.nan
            mean_b = float(np.mean(b)) if b.size else np.nan
            t, df, p = welch_t(a, b)
            rows.append(
                [parameter, day, name_a, name_b, a.size, b.size, mean_a, mean_b,
                 mean_a - mean_b, t, df, p, np.nan, hedges_g(a, b)]
            )  # fmt: skip
        if rows:
            block = pd.DataFrame(rows, columns=columns)
            block["p_holm"] = holm(block["p"].to_numpy())
            blocks.append(block)
    return pd.concat(blocks, ignore_index=True) if blocks else pd.DataFrame(columns=columns)


def _samples(group: pd.DataFrame) -> dict[str, np.ndarray]:
    return {
        str(cohort): _finite(part["value"].to_numpy())
        for cohort, part in group.groupby("cohort", sort=True)
    }


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float).ravel()
    return values[~np.isnan(values)]
