"""Descriptive statistics per cohort and time point, and change from baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .table import tidy_table

__all__ = ["change_from_baseline", "summarise"]


def summarise(table: pd.DataFrame, value: str = "value") -> pd.DataFrame:
    """Mean, SD, SEM and n per parameter, cohort and study day.

    Parameters
    ----------
    table : DataFrame
        A tidy table (:func:`~analysis.cohort_stats.table.tidy_table`); any other
        numeric column may be summarised through ``value`` (e.g. ``"change_pct"``
        of :func:`change_from_baseline`).
    value : str
        The column to summarise.

    Returns
    -------
    DataFrame
        Columns ``parameter, cohort, day, n, mean, sd, sem``. ``n`` counts the
        non-missing values; ``sd`` uses ``n - 1`` degrees of freedom and is NaN for
        ``n < 2``, as is ``sem = sd / sqrt(n)``; ``mean`` is NaN for ``n = 0``.
    """
    frame = _checked(table, value)
    rows = []
    for (parameter, cohort, day), group in frame.groupby(["parameter", "cohort", "day"], sort=True):
        values = group[value].to_numpy(dtype=float)
        values = values[~np.isnan(values)]
        n = values.size
        mean = float(np.mean(values)) if n else float("nan")
        sd = float(np.std(values, ddof=1)) if n > 1 else float("nan")
        rows.append((parameter, cohort, day, n, mean, sd, sd / np.sqrt(n) if n > 1 else np.nan))
    return pd.DataFrame(rows, columns=["parameter", "cohort", "day", "n", "mean", "sd", "sem"])


def change_from_baseline(table: pd.DataFrame, baseline_day: float | None = None) -> pd.DataFrame:
    """Each animal's change from its baseline value, absolute and in per cent.

    Parameters
    ----------
    table : DataFrame
        A tidy table.
    baseline_day : float, optional
        Study day of the baseline scan; by default each parameter's earliest day.

    Returns
    -------
    DataFrame
        The table with columns ``baseline`` (the animal's value on the baseline
        day), ``change = value - baseline`` and ``change_pct = 100 * change /
        baseline``. Animals without a baseline value get NaN, as does
        ``change_pct`` where the baseline is 0.
    """
    frame = _checked(table, "value")
    out = []
    for _, group in frame.groupby("parameter", sort=True):
        day0 = group["day"].min() if baseline_day is None else float(baseline_day)
        base = group.loc[group["day"] == day0].set_index("animal")["value"]
        group = group.copy()
        group["baseline"] = group["animal"].map(base).astype(float)
        out.append(group)
    result = pd.concat(out, ignore_index=True) if out else frame.assign(baseline=np.nan)
    result["change"] = result["value"] - result["baseline"]
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = 100.0 * result["change"].to_numpy() / result["baseline"].to_numpy()
    result["change_pct"] = np.where(result["baseline"].to_numpy() == 0, np.nan, pct)
    return result


def _checked(table: pd.DataFrame, value: str) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame) or not {"parameter", "animal", "cohort", "day"} <= set(
        table.columns
    ):
        table = tidy_table(table)
    if value not in table.columns:
        raise ValueError(f"value must name a column of table, got {value!r}")
    return table
