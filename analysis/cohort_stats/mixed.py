"""Linear mixed model of a parameter over time: cohort × time, animal as random intercept.

For each parameter, with ``day`` the study day and cohort dummies ``C_c`` (1 for
animals of cohort ``c``, 0 otherwise, against a reference cohort):

``value = β₀ + Σ β_c C_c + β_t day + Σ β_{c,t} C_c day + u_animal + ε``,

``u_animal ~ N(0, σ_u²)``, ``ε ~ N(0, σ²)``, fitted by REML with statsmodels'
``MixedLM``. ``β_t`` is the reference cohort's slope (units of the value per day);
``β_{c,t}`` is how much faster cohort ``c`` changes — the treatment effect over
time. Animals with missing time points keep the time points they have.

References
----------
.. [1] Laird NM, Ware JH. Random-effects models for longitudinal data.
   Biometrics 1982;38:963-974.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from statsmodels.regression.mixed_linear_model import MixedLM
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from .descriptive import _checked

__all__ = ["MixedModelResult", "mixed_model"]

_COEFFICIENT_COLUMNS = ["parameter", "term", "estimate", "se", "z", "p", "ci_low", "ci_high"]
_FIT_COLUMNS = [
    "parameter", "reference", "n_obs", "n_animals", "converged",
    "random_intercept_var", "residual_var", "log_likelihood", "note",
]  # fmt: skip


@dataclass(frozen=True)
class MixedModelResult:
    """Fixed effects and fit summary of :func:`mixed_model`.

    Attributes
    ----------
    coefficients : DataFrame
        One row per parameter and fixed-effect term: ``parameter, term, estimate,
        se, z, p, ci_low, ci_high`` (Wald, 95 % by default). Terms are
        ``Intercept``, ``cohort[T.<c>]``, ``day`` and ``cohort[T.<c>]:day``.
    fit : DataFrame
        One row per parameter: ``reference`` cohort, ``n_obs``, ``n_animals``,
        ``converged``, the variance of the animal intercepts and of the residuals,
        the REML log-likelihood, and a ``note`` saying why a model was not fitted
        (its coefficients are then NaN) or that it did not converge.
    """

    coefficients: pd.DataFrame
    fit: pd.DataFrame


def mixed_model(
    table: pd.DataFrame, reference: str | None = None, alpha: float = 0.05
) -> MixedModelResult:
    """Fit ``value ~ cohort * day + (1 | animal)`` for each parameter.

    Parameters
    ----------
    table : DataFrame
        A tidy table (NaN values are dropped).
    reference : str, optional
        The reference cohort (e.g. the vehicle group); by default the first
        cohort in sorted order.
    alpha : float
        Confidence intervals are ``1 - alpha``.

    Returns
    -------
    MixedModelResult

    Raises
    ------
    ValueError
        If ``reference`` is not a cohort of the table or ``alpha`` is not in (0, 1).
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    frame = _checked(table, "value")
    if reference is not None and str(reference) not in set(frame["cohort"]):
        raise ValueError(f"reference must be one of the cohorts, got {reference!r}")
    coefficient_blocks, fit_rows = [], []
    for parameter, group in frame.groupby("parameter", sort=True):
        block, fit_row = _fit_one(parameter, group.dropna(subset=["value"]), reference, alpha)
        coefficient_blocks.append(block)
        fit_rows.append(fit_row)
    coefficients = (
        pd.concat(coefficient_blocks, ignore_index=True)
        if coefficient_blocks
        else pd.DataFrame(columns=_COEFFICIENT_COLUMNS)
    )
    return MixedModelResult(coefficients, pd.DataFrame(fit_rows, columns=_FIT_COLUMNS))


def _fit_one(
    parameter: str, group: pd.DataFrame, reference: str | None, alpha: float
) -> tuple[pd.DataFrame, list]:
    cohorts = sorted(group["cohort"].unique())
    ref = str(reference) if reference is not None else (cohorts[0] if cohorts else "")
    others = [c for c in cohorts if c != ref]
    names = ["Intercept", *(f"cohort[T.{c}]" for c in others), "day"]
    names += [f"cohort[T.{c}]:day" for c in others]

    day = group["day"].to_numpy(dtype=float)
    dummies = [(group["cohort"] == c).to_numpy(dtype=float) for c in others]
    exog = np.column_stack([np.ones(len(group)), *dummies, day, *(d * day for d in dummies)])
    endog = group["value"].to_numpy(dtype=float)
    animals = group["animal"].astype(str).to_numpy()
    n_animals = len(np.unique(animals))

    note = ""
    if ref not in cohorts:
        note = f"reference cohort {ref!r} has no values"
    elif n_animals < 2 or len(np.unique(day)) < 2:
        note = "needs at least two animals and two time points"
    elif len(endog) <= exog.shape[1] + 1 or np.linalg.matrix_rank(exog) < exog.shape[1]:
        note = "cohort × time effects not estimable (a cohort with a single time point?)"
    if note:
        return _nan_block(parameter, names), [
            parameter,
            ref,
            len(endog),
            n_animals,
            False,
            np.nan,
            np.nan,
            np.nan,
            note,
        ]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            model = MixedLM(endog, pd.DataFrame(exog, columns=names), groups=animals)
            result = model.fit(reml=True, method=["lbfgs", "bfgs", "cg"])
        except (np.linalg.LinAlgError, ValueError) as exc:
            return _nan_block(parameter, names), [
                parameter, ref, len(endog), n_animals, False, np.nan, np.nan, np.nan,
                f"fit failed: {exc}",
            ]  # fmt: skip
    converged = bool(result.converged) and not any(
        issubclass(w.category, ConvergenceWarning) for w in caught
    )
    k = len(names)
    estimate = np.asarray(result.fe_params, dtype=float)
    se = np.asarray(result.bse_fe, dtype=float)
    z = estimate / se
    p = np.asarray(result.pvalues, dtype=float)[:k]
    ci = np.asarray(result.conf_int(alpha=alpha), dtype=float)[:k]
    block = pd.DataFrame(
        {
            "parameter": parameter,
            "term": names,
            "estimate": estimate,
            "se": se,
            "z": z,
            "p": p,
            "ci_low": ci[:, 0],
            "ci_high": ci[:, 1],
        }
    )
    fit_row = [
        parameter,
        ref,
        len(endog),
        n_animals,
        converged,
        float(np.asarray(result.cov_re).ravel()[0]),
        float(result.scale),
        float(result.llf),
        "" if converged else "did not converge; read the estimates with care",
    ]
    return block, fit_row


def _nan_block(parameter: str, names: list[str]) -> pd.DataFrame:
    nan = np.full(len(names), np.nan)
    return pd.DataFrame(
        {
            "parameter": parameter,
            "term": names,
            "estimate": nan,
            "se": nan,
            "z": nan,
            "p": nan,
            "ci_low": nan,
            "ci_high": nan,
        }
    )
