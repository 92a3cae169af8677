"""The tidy table every cohort statistic reads.

One row per measurement: ``animal``, ``cohort``, ``day`` (study day of the scan),
``value`` (the parameter's value, NaN where it could not be measured) and, when
the table holds several parameters (``bv_tv``, ``bfr_bv_pct_per_day``, …), a
``parameter`` column naming each row's parameter. Every statistic is computed per
parameter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["REQUIRED_COLUMNS", "tidy_table"]

REQUIRED_COLUMNS: tuple[str, ...] = ("animal", "cohort", "day", "value")
"""Columns of a tidy table; ``parameter`` is optional."""


def tidy_table(
    data: pd.DataFrame | Iterable[Mapping[str, Any]],
    *,
    animal: str = "animal",
    cohort: str = "cohort",
    day: str = "day",
    value: str = "value",
    parameter: str | None = "parameter",
) -> pd.DataFrame:
    """Check a table of measurements and give it the standard column names.

    Parameters
    ----------
    data : DataFrame or iterable of mappings
        The measurements, one per row (e.g. a list of dicts from the database).
    animal, cohort, day, value : str
        Names of the animal identifier, cohort name, study day (days, numeric) and
        value columns in ``data``.
    parameter : str or None
        Name of the parameter-name column; ignored when ``data`` has no such column.

    Returns
    -------
    DataFrame
        Columns ``parameter`` (``"value"`` when absent), ``animal``, ``cohort``,
        ``day`` (float) and ``value`` (float, NaN kept), sorted by parameter,
        cohort, animal and day.

    Raises
    ------
    ValueError
        If a column is missing, a day or value is not numeric, a day is missing, or
        an animal has two values of one parameter on the same day.
    """
    frame = data.copy() if isinstance(data, pd.DataFrame) else pd.DataFrame(list(data))
    names = {animal: "animal", cohort: "cohort", day: "day", value: "value"}
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise ValueError(f"data lacks the column(s) {missing}; it has {list(frame.columns)}")
    if parameter is not None and parameter in frame.columns:
        names[parameter] = "parameter"
    frame = frame[list(names)].rename(columns=names)
    if "parameter" not in frame.columns:
        frame.insert(0, "parameter", "value")
    try:
        frame["day"] = pd.to_numeric(frame["day"]).astype(float)
        frame["value"] = pd.to_numeric(frame["value"]).astype(float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the {day!r} and {value!r} columns must be numeric: {exc}") from None
    if frame["day"].isna().any():
        raise ValueError(f"the {day!r} column must have no missing entries")
    if np.isinf(frame["value"]).any():
        raise ValueError(f"the {value!r} column must be finite or NaN")
    duplicated = frame.duplicated(["parameter", "animal", "day"])
    if duplicated.any():
        first = frame.loc[duplicated].iloc[0]
        raise ValueError(
            f"animal {first['animal']!r} has two values of {first['parameter']!r} "
            f"on day {first['day']:g}"
        )
    frame["cohort"] = frame["cohort"].astype(str)
    return frame.sort_values(["parameter", "cohort", "animal", "day"], ignore_index=True)
