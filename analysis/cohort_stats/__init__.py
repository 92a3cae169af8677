"""Cohort statistics of longitudinal bone parameters.

A tidy table (animal, cohort, study day, value; optionally the parameter's name) in;
descriptive statistics per cohort and time point, change from baseline, between-
cohort comparisons per time point (ANOVA, Welch t-tests with Holm correction,
Hedges' g) and a linear mixed model over time (cohort × time, animal as random
intercept) out, each as a pandas DataFrame that :func:`write_csv` exports.

Modules
-------
table
    Checking the input and naming its columns.
descriptive
    n, mean, SD, SEM; change from baseline.
comparisons
    Between cohorts at each time point.
mixed
    Over time: the linear mixed model.
export
    CSV files.
"""

from .comparisons import anova_by_time, hedges_g, holm, pairwise_by_time, welch_t
from .descriptive import change_from_baseline, summarise
from .export import write_csv
from .mixed import MixedModelResult, mixed_model
from .table import REQUIRED_COLUMNS, tidy_table

__all__ = [
    "REQUIRED_COLUMNS",
    "MixedModelResult",
    "anova_by_time",
    "change_from_baseline",
    "hedges_g",
    "holm",
    "mixed_model",
    "pairwise_by_time",
    "summarise",
    "tidy_table",
    "welch_t",
    "write_csv",
]
