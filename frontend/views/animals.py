"""Animal pages: the animal's timeline and weight curve, the animal and weight forms."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone

from studies.models import Animal, BodyWeight, Study
from studies.vocabulary import Role

from ..access import study_for
from ..charts import weight_chart
from ..forms import AnimalForm, BodyWeightForm
from .common import form_page, saved_by, study_page, welfare_level


@dataclass(frozen=True)
class Event:
    """One line of an animal's timeline."""

    when: dt.datetime
    day: int
    kind: str  # "scan", "dose" or "weight"
    title: str
    detail: str
    status: str
    url: str = ""
    action_url: str = ""


def _as_datetime(date: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(date, dt.time.min))


def animal_timeline(study: Study, animal: Animal, weights: list) -> list[Event]:
    """Scan sessions, administrations and weighings of ``animal``, oldest first.

    ``weights`` are ``(BodyWeight, study day, percent change from baseline, welfare
    level)`` tuples.  A dose's
    ``action_url`` (record it as given) is for roles that may operate; the template
    shows it only to them.
    """
    events = []
    for session in animal.scan_sessions.all():
        events.append(
            Event(
                session.planned_at,
                study.study_day(session.planned_at),
                "scan",
                session.get_site_display(),
                f"operator {session.operator}" if session.operator else "",
                session.state,
                reverse("frontend:session-detail", args=[study.pk, session.pk]),
            )
        )
    for dose in animal.administrations.select_related("treatment", "administered_by"):
        treatment = dose.treatment
        if dose.is_done:
            detail = f"given {dose.actual_at:%Y-%m-%d %H:%M}"
            if dose.dose_given is not None:
                detail += f", {dose.dose_given.normalize():f} {treatment.dose_unit}"
            if dose.administered_by:
                detail += f" by {dose.administered_by}"
        else:
            detail = treatment.get_route_display()
        events.append(
            Event(
                dose.planned_at,
                study.study_day(dose.planned_at),
                "dose",
                treatment.agent,
                detail,
                "given" if dose.is_done else "due",
                action_url=reverse("frontend:administration-complete", args=[study.pk, dose.pk]),
            )
        )
    for weight, day, percent, _ in weights:
        change = f" ({percent:+.1f} %)" if percent is not None else ""
        events.append(
            Event(
                _as_datetime(weight.measured_on),
                day,
                "weight",
                f"{weight.grams.normalize():f} g{change}",
                f"by {weight.measured_by}" if weight.measured_by else "",
                "",
                action_url=reverse("frontend:weight-edit", args=[study.pk, animal.pk, weight.pk]),
            )
        )
    return sorted(events, key=lambda e: (e.when, e.kind))


@login_required
def animal_detail(request: HttpRequest, study_id: int, animal_id: int) -> HttpResponse:
    study = study_for(request, study_id)
    animal = get_object_or_404(Animal.objects.select_related("cohort"), pk=animal_id, study=study)
    ordered = list(animal.weights.select_related("measured_by").order_by("measured_on", "id"))
    baseline = ordered[0].grams if ordered else None
    weights = []
    for weight in ordered:
        change = weight.percent_change_from(baseline)
        day = study.study_day(weight.measured_on)
        weights.append((weight, day, change, welfare_level(change, study)))
    chart = None
    if ordered:
        chart = weight_chart(
            [day for _, day, _, _ in weights],
            [float(w.grams) for w in ordered],
            warning_pct=study.weight_loss_warning_pct,
            endpoint_pct=study.weight_loss_endpoint_pct,
        )
    return study_page(
        request,
        study,
        "animals",
        "frontend/animal_detail.html",
        animal=animal,
        weights=weights,
        chart=chart,
        events=animal_timeline(study, animal, weights),
    )


@login_required
def animal_edit(request: HttpRequest, study_id: int, animal_id: int | None = None) -> HttpResponse:
    study = study_for(request, study_id, Role.INVESTIGATOR)
    animal = get_object_or_404(Animal, pk=animal_id, study=study) if animal_id else None
    return form_page(
        request,
        AnimalForm(request.POST or None, instance=animal, study=study),
        study=study,
        title=f"Edit animal {animal}" if animal else "New animal",
        cancel_url=reverse("frontend:animal-detail", args=[study.pk, animal.pk])
        if animal
        else reverse("frontend:study-detail", args=[study.pk]),
        success_url=lambda record: reverse("frontend:animal-detail", args=[study.pk, record.pk]),
    )


@login_required
def weight_edit(
    request: HttpRequest, study_id: int, animal_id: int, weight_id: int | None = None
) -> HttpResponse:
    """Operators record (or correct) a body weight."""
    study = study_for(request, study_id, Role.OPERATOR)
    animal = get_object_or_404(Animal, pk=animal_id, study=study)
    weight = get_object_or_404(BodyWeight, pk=weight_id, animal=animal) if weight_id else None

    back = reverse("frontend:animal-detail", args=[study.pk, animal.pk])
    return form_page(
        request,
        BodyWeightForm(request.POST or None, instance=weight, animal=animal),
        study=study,
        title=f"Body weight of {animal}",
        cancel_url=back,
        success_url=back,
        save=saved_by(request.user, "measured_by"),
    )
