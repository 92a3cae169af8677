"""Study pages: the list, the study form, cohorts & animals, and the schedule."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone

from studies.models import BodyWeight, Cohort, Membership, ScanSession, Study, Treatment
from studies.vocabulary import AnimalStatus, Role, SessionState, TreatmentKind

from ..access import study_for
from ..charts import timeline
from ..forms import CohortForm, StudyForm
from ..weeks import study_weeks
from .animals import DOSE_WARNING_PCT, dose_uses
from .common import form_page, study_page, welfare_level


@login_required
def study_list(request: HttpRequest) -> HttpResponse:
    studies = Study.objects.visible_to(request.user).annotate(n_animals=Count("animals"))
    rows = [(study, study.role_of(request.user)) for study in studies]
    return render(request, "frontend/study_list.html", {"rows": rows})


@login_required
def study_edit(request: HttpRequest, study_id: int | None = None) -> HttpResponse:
    """Anyone may start a study (and becomes its owner); investigators edit one."""
    study = study_for(request, study_id, Role.INVESTIGATOR) if study_id else None
    form = StudyForm(request.POST or None, instance=study)

    @transaction.atomic
    def save(form):
        created = form.instance.pk is None
        record = form.save()
        if created:
            Membership.objects.create(study=record, user=request.user, role=Role.OWNER)
        return record

    return form_page(
        request,
        form,
        study=study,
        title=f"Edit {study}" if study else "New study",
        cancel_url=reverse("frontend:study-detail", args=[study.pk])
        if study
        else reverse("frontend:study-list"),
        success_url=lambda record: reverse("frontend:study-detail", args=[record.pk]),
        save=save,
        intro="" if study else "You become the owner of the study you create.",
    )


def _latest_weights(study: Study) -> dict[int, tuple[BodyWeight, float | None, str]]:
    """Per animal id: its latest weighing, the percent change from its first one, and the
    welfare level of that change."""
    first: dict[int, BodyWeight] = {}
    latest: dict[int, BodyWeight] = {}
    for weight in BodyWeight.objects.filter(animal__study=study).order_by("measured_on", "id"):
        first.setdefault(weight.animal_id, weight)
        latest[weight.animal_id] = weight
    changes = {
        animal_id: weight.percent_change_from(first[animal_id].grams)
        for animal_id, weight in latest.items()
    }
    return {
        animal_id: (weight, changes[animal_id], welfare_level(changes[animal_id], study))
        for animal_id, weight in latest.items()
    }


@login_required
def study_detail(request: HttpRequest, study_id: int) -> HttpResponse:
    study = study_for(request, study_id)
    weights = _latest_weights(study)
    animals = [
        (animal, *weights.get(animal.pk, (None, None, "")))
        for animal in study.animals.select_related("cohort")
    ]
    return study_page(
        request,
        study,
        "animals",
        "frontend/study_animals.html",
        cohorts=study.cohorts.annotate(n_animals=Count("animals")),
        animals=animals,
        statuses=AnimalStatus.choices,
    )


@login_required
def cohort_edit(request: HttpRequest, study_id: int, cohort_id: int | None = None) -> HttpResponse:
    study = study_for(request, study_id, Role.INVESTIGATOR)
    cohort = get_object_or_404(Cohort, pk=cohort_id, study=study) if cohort_id else None
    return form_page(
        request,
        CohortForm(request.POST or None, instance=cohort, study=study),
        study=study,
        title=f"Edit cohort {cohort}" if cohort else "New cohort",
        cancel_url=reverse("frontend:study-detail", args=[study.pk]),
        success_url=reverse("frontend:study-detail", args=[study.pk]),
    )


@login_required
def study_schedule(request: HttpRequest, study_id: int) -> HttpResponse:
    study = study_for(request, study_id)
    treatments = list(
        Treatment.objects.filter(cohort__study=study)
        .select_related("cohort")
        .annotate(n_planned=Count("administrations"))
        .order_by("cohort__name", "start_day", "agent")
    )
    sessions = list(
        ScanSession.objects.filter(animal__study=study)
        .select_related("animal")
        .order_by("planned_at", "animal__label")
    )
    today = study.study_day(timezone.localdate())
    scan_days = sorted({study.study_day(s.planned_at) for s in sessions})
    rows = [(_treatment_label(t), t.cohort.name, t.schedule_days()) for t in treatments]
    if scan_days:
        rows.append(("every site", "Scans", scan_days))
    chart = timeline(rows, today=today, label_width=300) if rows else None
    weeks = study_weeks((study.study_day(s.planned_at), s) for s in sessions)
    return study_page(
        request,
        study,
        "schedule",
        "frontend/study_schedule.html",
        treatments=treatments,
        chart=chart,
        weeks=weeks,
        states=SessionState.choices,
    )


def _treatment_label(treatment: Treatment) -> str:
    """``agent [dose unit] [route]`` — the route only where it is not implied (surgery)."""
    dose = treatment.dose
    dose = f" {dose.normalize():f} {treatment.get_dose_unit_display()}" if dose else ""
    route = "" if treatment.kind == TreatmentKind.SURGERY else f" {treatment.route}"
    return f"{treatment.agent}{dose}{route}"


@login_required
def study_dose(request: HttpRequest, study_id: int) -> HttpResponse:
    """Dose budget use per animal and site: a table with bars (any member)."""
    study = study_for(request, study_id)
    uses = dose_uses(request.user, animal__study=study)
    return study_page(
        request,
        study,
        "dose",
        "frontend/study_dose.html",
        uses=uses,
        n_over=sum(1 for use in uses if use.level == "over"),
        n_warning=sum(1 for use in uses if use.level == "warning"),
        warning_pct=DOSE_WARNING_PCT,
    )
