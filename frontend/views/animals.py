"""Animal pages: timeline, weight curve, dose against the budget, volumes and renders; forms."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone

from acquisition.views import dose_budget_rows
from analysis.models import MorphometryResult, RemodellingResult
from recon.models import Volume
from studies.models import Animal, BodyWeight, Study
from studies.vocabulary import AnatomicalSite, Role

from ..access import study_for
from ..charts import weight_chart
from ..forms import AnimalForm, BodyWeightForm
from ..tasks import strip_path, strip_volumes, thumbnail_path
from .common import form_page, saved_by, study_page, welfare_level
from .renders import render_exists

#: Share of the budget (%) from which a site's dose is flagged.
DOSE_WARNING_PCT = 80.0


@dataclass(frozen=True)
class DoseUse:
    """Cumulative dose of one animal at one site against the study's budget (mGy, %)."""

    animal_id: int
    animal_label: str
    site: str
    delivered_mgy: float
    pending_mgy: float
    budget_mgy: float
    remaining_mgy: float

    @property
    def site_label(self) -> str:
        return AnatomicalSite(self.site).label

    @property
    def used_pct(self) -> float:
        """Delivered dose as a percentage of the budget (may exceed 100 after an override)."""
        return 100.0 * self.delivered_mgy / self.budget_mgy

    @property
    def committed_pct(self) -> float:
        return 100.0 * (self.delivered_mgy + self.pending_mgy) / self.budget_mgy

    @property
    def bar_used_pct(self) -> float:
        """Width of the delivered part of a bar (%, at most 100)."""
        return min(self.used_pct, 100.0)

    @property
    def bar_pending_pct(self) -> float:
        """Width of the queued-or-running part of a bar (%, the bar stays within 100)."""
        return max(min(self.committed_pct, 100.0) - self.bar_used_pct, 0.0)

    @property
    def level(self) -> str:
        """``"over"`` past the budget, ``"warning"`` from :data:`DOSE_WARNING_PCT`, else ``""``."""
        if self.committed_pct > 100.0 + 1e-9:
            return "over"
        return "warning" if self.committed_pct >= DOSE_WARNING_PCT else ""


def dose_uses(user, **scope) -> list[DoseUse]:
    """Dose per animal and site the user may see (the API's dose-budget rows), by animal."""
    return [
        DoseUse(
            animal_id=row["animal"],
            animal_label=row["animal_label"],
            site=row["site"],
            delivered_mgy=row["delivered_mgy"],
            pending_mgy=row["pending_mgy"],
            budget_mgy=row["budget_mgy"],
            remaining_mgy=row["remaining_mgy"],
        )
        for row in dose_budget_rows(user, **scope)
    ]


@dataclass(frozen=True)
class SiteVolumes:
    """An animal's volumes at one site (oldest first) and whether its strip is drawn."""

    site: str
    label: str
    volumes: list  # of (Volume, has thumbnail)
    strip_ready: bool


def site_volumes(animal: Animal) -> list[SiteVolumes]:
    """Per scanned site: every volume (render state) and whether the current strip exists."""
    volumes = list(
        Volume.objects.with_grey_values()
        .filter(session__animal=animal)
        .select_related("session")
        .order_by("session__planned_at", "created_at", "pk")
    )
    groups = []
    for site in sorted({v.session.site for v in volumes}):
        shown = strip_volumes(animal, site)
        groups.append(
            SiteVolumes(
                site,
                AnatomicalSite(site).label,
                [(v, render_exists(thumbnail_path(v))) for v in volumes if v.session.site == site],
                render_exists(strip_path(animal, site, shown)),
            )
        )
    return groups


def animal_results(animal: Animal) -> dict[str, list]:
    """The animal's morphometry and remodelling results, oldest time point first."""
    morphometry = (
        MorphometryResult.objects.filter(volume__session__animal=animal)
        .select_related("volume__session")
        .order_by("volume__session__planned_at", "created_at")
    )
    remodelling = (
        RemodellingResult.objects.filter(followup_volume__session__animal=animal)
        .select_related("followup_volume__session", "label_volume")
        .order_by("followup_volume__session__planned_at", "created_at")
    )
    return {"morphometry": list(morphometry), "remodelling": list(remodelling)}


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
        doses=dose_uses(request.user, animal=animal),
        site_volumes=site_volumes(animal),
        results=animal_results(animal),
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
