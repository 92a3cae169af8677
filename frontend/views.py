"""Server-rendered pages: study list, study detail, animal form.

The same rules as the API: ``visible_to`` for what a user sees (404 otherwise) and
``can`` for what their role lets them change (403 otherwise).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from studies.models import Animal, ScanSession, Study
from studies.permissions import can
from studies.vocabulary import Role, SessionState

from .forms import AnimalForm


@login_required
def study_list(request):
    studies = Study.objects.visible_to(request.user).order_by("-start_date")
    rows = [(study, study.role_of(request.user)) for study in studies]
    return render(request, "frontend/study_list.html", {"rows": rows})


@login_required
def study_detail(request, study_id: int):
    study = get_object_or_404(Study.objects.visible_to(request.user), pk=study_id)
    upcoming = (
        ScanSession.objects.filter(
            animal__study=study,
            state__in=[SessionState.PLANNED, SessionState.QUEUED],
            planned_at__gte=timezone.now() - timezone.timedelta(days=1),
        )
        .select_related("animal")
        .order_by("planned_at")[:20]
    )
    context = {
        "study": study,
        "role": study.role_of(request.user),
        "cohorts": study.cohorts.all(),
        "animals": study.animals.select_related("cohort"),
        "upcoming": upcoming,
        "can_edit_animals": can(request.user, study, Role.INVESTIGATOR),
    }
    return render(request, "frontend/study_detail.html", context)


@login_required
def animal_edit(request, study_id: int, animal_id: int | None = None):
    study = get_object_or_404(Study.objects.visible_to(request.user), pk=study_id)
    animal = get_object_or_404(Animal, pk=animal_id, study=study) if animal_id else None
    if not can(request.user, study, Role.INVESTIGATOR):
        raise PermissionDenied("Your role in this study does not allow editing animals.")
    form = AnimalForm(request.POST or None, instance=animal, study=study)
    if request.method == "POST" and form.is_valid():
        form.save()
        return redirect("frontend:study-detail", study_id=study.pk)
    return render(request, "frontend/animal_form.html", {"study": study, "form": form})
