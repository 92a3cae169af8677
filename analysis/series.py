"""The measured value of one parameter per scan session: what cohort plots and statistics use.

One function, shared by the cohort-statistics API (``analysis.views``) and the study's
Analysis page (``frontend.views.analysis``), so that both count exactly the same rows.
"""

from __future__ import annotations

from django.db.models import QuerySet

from studies.models import Study

from . import models as m


def is_dynamic(parameter: str) -> bool:
    """True for remodelling parameters (a pair of sessions), False for static ones."""
    return parameter not in m.parameter_labels(m.MorphometryResult)


def results_of(study: Study, user, parameter: str, site: str | None) -> tuple[QuerySet, str]:
    """The visible results that carry ``parameter`` in ``study``, for animals with a cohort
    and results with a study day, at ``site`` (all sites when None).

    Returns
    -------
    (queryset, session path)
        The session path is ``"volume__session"`` for static results and
        ``"followup_volume__session"`` for remodelling ones (a rate belongs to its
        follow-up session).
    """
    dynamic = is_dynamic(parameter)
    model = m.RemodellingResult if dynamic else m.MorphometryResult
    session = "followup_volume__session" if dynamic else "volume__session"
    results = model.objects.visible_to(user).filter(
        **{f"{session}__animal__study": study, f"{session}__animal__cohort__isnull": False},
        study_day__isnull=False,
    )
    if site is not None:
        results = results.filter(**{f"{session}__site": site})
    return results, session


def latest_per_session(study: Study, user, parameter: str, site: str | None) -> list[dict]:
    """The newest result of each scan session: one row per session, newest first.

    Returns
    -------
    list of dict
        ``session_id``, ``volume_id`` (the follow-up's for remodelling), ``animal_id``,
        ``animal`` (label), ``cohort`` (name), ``site``, ``day`` (study day) and ``value``
        (as stored; None where the result lacks it).
    """
    results, session = results_of(study, user, parameter, site)
    volume = session.removesuffix("__session")
    rows = results.order_by("-created_at", "-id").values(
        f"{session}_id", f"{volume}_id", f"{session}__animal_id", f"{session}__animal__label",
        f"{session}__animal__cohort__name", f"{session}__site", "study_day", parameter,
    )  # fmt: skip
    seen: set[int] = set()
    out = []
    for row in rows:
        session_id = row[f"{session}_id"]
        if session_id in seen:
            continue  # an older result of a session already counted
        seen.add(session_id)
        out.append(
            {
                "session_id": session_id,
                "volume_id": row[f"{volume}_id"],
                "animal_id": row[f"{session}__animal_id"],
                "animal": row[f"{session}__animal__label"],
                "cohort": row[f"{session}__animal__cohort__name"],
                "site": row[f"{session}__site"],
                "day": row["study_day"],
                "value": row[parameter],
            }
        )
    return out
