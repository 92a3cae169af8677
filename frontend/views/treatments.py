"""Treatments and the dosing log: the treatment form, planning doses, completing one."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from studies.models import Administration, Treatment
from studies.views import TreatmentViewSet
from studies.vocabulary import Role

from ..access import study_for
from ..forms import AdministrationForm, TreatmentForm
from .common import form_page, saved_by

#: The API's "generate administrations" action, served to the page as it is, so that the
#: planning rule (alive animals of the cohort, one dose per schedule day, never twice)
#: and its role check stay written once.
_plan_administrations = TreatmentViewSet.as_view({"post": "generate_administrations"})


@login_required
def treatment_edit(
    request: HttpRequest, study_id: int, treatment_id: int | None = None
) -> HttpResponse:
    study = study_for(request, study_id, Role.INVESTIGATOR)
    treatment = (
        get_object_or_404(Treatment, pk=treatment_id, cohort__study=study) if treatment_id else None
    )
    schedule = reverse("frontend:study-schedule", args=[study.pk])
    return form_page(
        request,
        TreatmentForm(request.POST or None, instance=treatment, study=study),
        study=study,
        title=f"Edit treatment {treatment}" if treatment else "New treatment",
        cancel_url=schedule,
        success_url=schedule,
        intro="Days are study days (day 0 = study start). A repeated treatment needs an "
        "interval and a number of administrations or an end day.",
    )


@login_required
@require_POST
def treatment_plan(request: HttpRequest, study_id: int, treatment_id: int) -> HttpResponse:
    """Plan the dosing log of a treatment (one administration per animal and day)."""
    study = study_for(request, study_id, Role.INVESTIGATOR)
    treatment = get_object_or_404(Treatment, pk=treatment_id, cohort__study=study)
    response = _plan_administrations(request, pk=treatment.pk)
    if response.status_code >= 400:
        messages.error(request, f"Nothing was planned: {response.data}")
        return redirect("frontend:study-schedule", study_id=study.pk)
    count = len(response.data)
    messages.success(
        request,
        f"Planned {count} new administration{'s' if count != 1 else ''} of {treatment.agent}.",
    )
    return redirect("frontend:study-schedule", study_id=study.pk)


@login_required
def administration_complete(
    request: HttpRequest, study_id: int, administration_id: int
) -> HttpResponse:
    """Operators record a planned dose as given (time, dose, weight used, lot)."""
    study = study_for(request, study_id, Role.OPERATOR)
    administration = get_object_or_404(
        Administration.objects.select_related("treatment", "animal"),
        pk=administration_id,
        animal__study=study,
    )
    planned_day = study.study_day(administration.planned_at)

    return form_page(
        request,
        AdministrationForm(request.POST or None, instance=administration),
        study=study,
        title=f"{administration.treatment.agent} for {administration.animal}",
        cancel_url=reverse("frontend:animal-detail", args=[study.pk, administration.animal_id]),
        success_url=reverse("frontend:animal-detail", args=[study.pk, administration.animal_id]),
        save=saved_by(request.user, "administered_by"),
        intro=f"Planned for {administration.planned_at:%Y-%m-%d %H:%M} (study day {planned_day}).",
    )
