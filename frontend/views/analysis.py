"""The study's Analysis page: one bone parameter per cohort over study days.

The page draws (``static/frontend/analysis.js``) every animal's values as thin lines and
each cohort's mean ± SEM per time point, and lists the statistics of
``analysis.cohort_stats``: pairwise Welch tests per time point with Holm's correction
and Hedges' g, the ANOVA per day, and the linear mixed model's cohort × day terms.  It
takes the same rows as ``/api/v1/cohort-statistics/`` (the newest result of each scan
session, animals with a cohort) so the page and the API's CSV agree; here each point
also carries its session, so a click opens it.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass

import pandas as pd
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.http import urlencode

from analysis import cohort_stats, series
from analysis import models as am
from studies.models import Study
from studies.vocabulary import AnatomicalSite

from ..access import study_for
from .common import study_page

MODES = {
    "absolute": "Absolute values",
    "change": "Change from baseline",
    "change_pct": "% change from baseline",
}

#: Fractions shown in per cent (the API and its CSV keep the stored fraction).
_PERCENT_FRACTIONS = {"bv_tv", "ct_ar_tt_ar"}


@dataclass(frozen=True)
class Parameter:
    """A bone parameter as the page shows it: ``value_shown = stored × scale``."""

    name: str
    symbol: str  # ASBMR name, e.g. "Tb.Th"
    unit: str  # "µm", "%", "/mm", "%/day" or "" (dimensionless)
    scale: float
    dynamic: bool  # a remodelling rate between two time points

    @property
    def label(self) -> str:
        return f"{self.symbol} ({self.unit})" if self.unit else self.symbol


def _parameter(name: str, verbose: str, dynamic: bool) -> Parameter:
    match = re.fullmatch(r"(.+?) \((.+)\)", verbose)
    symbol, unit = (match.group(1), match.group(2)) if match else (verbose, "")
    unit = unit.replace("1/", "/")
    scale = 1.0
    if name in _PERCENT_FRACTIONS:
        unit, scale = "%", 100.0
    return Parameter(name, symbol, unit, scale, dynamic)


def parameters() -> dict[str, Parameter]:
    """Every parameter the page offers, static morphometry first, then remodelling."""
    static = am.parameter_labels(am.MorphometryResult)
    dynamic = am.parameter_labels(am.RemodellingResult)
    return {
        **{name: _parameter(name, label, False) for name, label in static.items()},
        **{name: _parameter(name, label, True) for name, label in dynamic.items()},
    }


class BadQuery(ValueError):
    """A query argument the page cannot show; ``field`` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def sites_with_results(study: Study, user, parameter: Parameter) -> list[str]:
    """Anatomical sites that have results of ``parameter``'s kind, sorted."""
    results, session = series.results_of(study, user, parameter.name, None)
    return sorted(set(results.values_list(f"{session}__site", flat=True)))


def measurements(study: Study, user, parameter: Parameter, site: str) -> list[dict]:
    """One row per scan session of ``site`` (its newest result), as the plot draws it.

    Parameters
    ----------
    study : Study
        The study; only animals with a cohort and results with a study day count.
    user : User
        Whose visibility rule applies (``visible_to``).
    parameter : Parameter
        The bone parameter; remodelling rates belong to their follow-up session.
    site : str
        An ``AnatomicalSite`` value.

    Returns
    -------
    list of dict
        ``animal`` (label), ``animal_id``, ``cohort`` (name), ``day`` (study day, int),
        ``value`` (in the page's units: ``stored × parameter.scale``; None where the
        result lacks the parameter), ``session_url`` and ``viewer_url``; sorted by
        cohort, animal and day.
    """
    out = []
    for row in series.latest_per_session(study, user, parameter.name, site):
        raw = row["value"]
        out.append(
            {
                "animal": row["animal"],
                "animal_id": row["animal_id"],
                "cohort": row["cohort"],
                "day": row["day"],
                "value": None if raw is None or not math.isfinite(raw) else raw * parameter.scale,
                "session_url": reverse(
                    "frontend:session-detail", args=[study.pk, row["session_id"]]
                ),
                "viewer_url": reverse("viewer:page", args=[row["volume_id"]]),
            }
        )
    return sorted(out, key=lambda r: (r["cohort"], r["animal"], r["day"]))


def _records(frame: pd.DataFrame) -> list[dict]:
    """A DataFrame as template- and JSON-ready rows (NaN → None)."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def statistics(study: Study, rows: list[dict], parameter: Parameter) -> dict:
    """Everything the page shows about ``rows``: summaries, comparisons, mixed model.

    Adds each row's ``change`` (page units) and ``change_pct`` (%) from its animal's
    baseline (the earliest day with results; None where the animal has no value that
    day).

    Parameters
    ----------
    study : Study
        Its control cohort (``is_control``) is the mixed model's reference.
    rows : list of dict
        From :func:`measurements`; changed in place.
    parameter : Parameter
        Names the parameter in the tables.

    Returns
    -------
    dict
        ``summary`` (per mode: n, mean, sd, sem per cohort and day), ``by_day`` (ANOVA
        and pairwise Welch tests with Holm-adjusted p and Hedges' g per day),
        ``mixed_coefficients``, ``mixed_fit`` and ``mixed_error`` (why no model).

    Raises
    ------
    ValueError
        If an animal has two sessions on one study day (the table is ambiguous).
    """
    table = cohort_stats.tidy_table(
        {"animal": r["animal"], "cohort": r["cohort"], "day": r["day"], "value": r["value"]}
        for r in rows
    ).assign(parameter=parameter.name)
    change = cohort_stats.change_from_baseline(table)
    baselines = change.set_index(["animal", "day"])[["change", "change_pct"]]
    for row in rows:
        key = (row["animal"], float(row["day"]))
        found = baselines.loc[key] if key in baselines.index else None
        for measure in ("change", "change_pct"):
            value = None if found is None else float(found[measure])
            row[measure] = value if value is not None and math.isfinite(value) else None
    controls = set(study.cohorts.filter(is_control=True).values_list("name", flat=True))
    present = sorted(controls & set(table["cohort"]))
    mixed_error = ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter; the fit table says it
            mixed = cohort_stats.mixed_model(table, reference=present[0] if present else None)
        coefficients, fit = _records(mixed.coefficients), _records(mixed.fit)
    except ValueError as exc:
        coefficients, fit, mixed_error = [], [], str(exc)
    for row in coefficients:
        row["interaction"] = ":" in row["term"]
        _with_p_texts(row, "p")
    return {
        "summary": {
            "absolute": _records(cohort_stats.summarise(table)),
            "change": _records(cohort_stats.summarise(change, value="change")),
            "change_pct": _records(cohort_stats.summarise(change, value="change_pct")),
        },
        "by_day": _by_day(cohort_stats.anova_by_time(table), cohort_stats.pairwise_by_time(table)),
        "mixed_coefficients": coefficients,
        "mixed_fit": fit[0] if fit else None,
        "mixed_error": mixed_error,
    }


def p_text(p: float | None) -> str:
    """A p-value as a table shows it: ``"< 0.001"``, ``"0.0123"``, ``"0.43"`` or ``"–"``."""
    if p is None or not math.isfinite(p):
        return "–"
    if p < 0.001:
        return "< 0.001"
    return f"{p:.3g}" if p < 0.1 else f"{p:.2f}"


def _with_p_texts(row: dict, *keys: str) -> dict:
    for key in keys:
        row[f"{key}_text"] = p_text(row.get(key))
        row[f"{key}_significant"] = row.get(key) is not None and row[key] < 0.05
    return row


def _by_day(anova: pd.DataFrame, pairwise: pd.DataFrame) -> list[dict]:
    """Per study day: the ANOVA row and the pairwise comparisons, p-values as text."""
    tests = {row["day"]: _with_p_texts(row, "p") for row in _records(anova)}
    days: dict[float, list[dict]] = {}
    for row in _records(pairwise):
        days.setdefault(row["day"], []).append(_with_p_texts(row, "p", "p_holm"))
    return [{"day": day, "anova": tests.get(day), "pairs": pairs} for day, pairs in days.items()]


def _chosen(request: HttpRequest, offered: dict[str, Parameter]) -> tuple[Parameter, str]:
    name = request.GET.get("parameter", "bv_tv")
    if name not in offered:
        raise BadQuery("parameter", f"Unknown parameter “{name}”; choose one from the list.")
    mode = request.GET.get("mode", "absolute")
    if mode not in MODES:
        raise BadQuery("mode", f"Unknown mode “{mode}”; one of {', '.join(MODES)}.")
    return offered[name], mode


@login_required
def study_analysis(request: HttpRequest, study_id: int) -> HttpResponse:
    """Every member reads the analysis; a bad query answers 400 with the page's form."""
    study = study_for(request, study_id)
    offered = parameters()
    context = {"parameters": offered.values(), "modes": MODES, "site_names": AnatomicalSite}
    try:
        parameter, mode = _chosen(request, offered)
    except BadQuery as exc:
        context.update(error=str(exc), error_field=exc.field, parameter=offered["bv_tv"])
        return _render(request, study, context, status=400)
    sites = sites_with_results(study, request.user, parameter)
    site = request.GET.get("site") or (sites[0] if sites else "")
    if site and site not in AnatomicalSite.values:
        context.update(
            error=f"Unknown site “{site}”.", error_field="site", parameter=parameter, mode=mode
        )
        return _render(request, study, context, status=400)
    rows = measurements(study, request.user, parameter, site) if site else []
    offered_sites = sorted({*sites, site} - {""})  # a chosen site stays chosen, even if empty
    context.update(parameter=parameter, mode=mode, site=site, sites=offered_sites, rows=rows)
    try:
        stats = statistics(study, rows, parameter) if rows else None
    except ValueError as exc:
        stats, context["data_error"] = None, str(exc)
    if stats is not None:
        query = {"study": study.pk, "parameter": parameter.name, "site": site, "format": "csv"}
        context.update(
            stats=stats,
            summary_rows=stats["summary"][mode],
            mode_label=MODES[mode],
            n_animals=len({r["animal_id"] for r in rows}),
            csv={
                table: f"/api/v1/cohort-statistics/?{urlencode({**query, 'table': table})}"
                for table in ("summary", "change", "pairwise", "anova", "mixed_coefficients")
            },
            plot={
                "parameter": parameter.name,
                "symbol": parameter.symbol,
                "unit": parameter.unit,
                "mode": mode,
                "points": rows,
                "summary": stats["summary"][mode],
                "cohorts": sorted({r["cohort"] for r in rows}),
                "controls": sorted(
                    study.cohorts.filter(is_control=True).values_list("name", flat=True)
                ),
                "site": AnatomicalSite(site).label,
                "study": study.title,
            },
        )
    return _render(request, study, context)


def _render(request: HttpRequest, study: Study, context: dict, status: int = 200) -> HttpResponse:
    response = study_page(request, study, "analysis", "frontend/study_analysis.html", **context)
    response.status_code = status
    return response
