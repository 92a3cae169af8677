"""Import & export: animals from CSV (all rows or none), CSV lists, the study export."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from studies.csv_import import ANIMAL_COLUMNS, import_animals
from studies.models import Study, StudyExport
from studies.serializers import AnimalSerializer
from studies.tasks import export_study
from studies.vocabulary import JobState, Role

from ..access import study_for
from ..forms import ImportForm
from .common import study_page

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CsvList:
    label: str
    url: str


#: API lists offered as CSV (each filters on ``?study=``).
_CSV_LISTS = [
    ("Cohorts", "cohort-list"),
    ("Animals", "animal-list"),
    ("Treatments", "treatment-list"),
    ("Administrations (dosing log)", "administration-list"),
    ("Body weights", "bodyweight-list"),
    ("Scan sessions", "scansession-list"),
    ("Members", "membership-list"),
]


def csv_lists(study: Study) -> list[CsvList]:
    """Links to the API's CSV lists of a study (``?study=<id>&format=csv``)."""
    return [
        CsvList(label, f"{reverse(name)}?study={study.pk}&format=csv") for label, name in _CSV_LISTS
    ]


def _data_page(
    request: HttpRequest, study: Study, form: ImportForm | None = None, rows=None
) -> HttpResponse:
    return study_page(
        request,
        study,
        "data",
        "frontend/study_data.html",
        form=form or ImportForm(),
        import_errors=rows or [],
        columns=ANIMAL_COLUMNS,
        csv_lists=csv_lists(study),
        exports=study.exports.select_related("requested_by")[:10],
    )


@login_required
def study_data(request: HttpRequest, study_id: int) -> HttpResponse:
    """The import & export page; a POST (investigators) imports animals from CSV."""
    if request.method != "POST":
        return _data_page(request, study_for(request, study_id))
    study = study_for(request, study_id, Role.INVESTIGATOR)
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _data_page(request, study, form)
    context = {"request": request}
    try:
        result = import_animals(
            study,
            form.cleaned_data["file"].read(),
            lambda data: AnimalSerializer(data=data, context=context),
        )
    except ValueError as exc:
        form.add_error("file", str(exc))
        return _data_page(request, study, form)
    if result.errors:
        form.add_error("file", "Nothing was imported: correct the lines below and try again.")
        return _data_page(request, study, form, result.errors)
    messages.success(request, f"Imported {len(result.created)} animals.")
    return redirect("frontend:study-detail", study_id=study.pk)


@login_required
@require_POST
def export_create(request: HttpRequest, study_id: int) -> HttpResponse:
    """Start the study export task (any member, as in the API)."""
    study = study_for(request, study_id, Role.VIEWER)
    export = StudyExport.objects.create(study=study, requested_by=request.user)
    transaction.on_commit(lambda: send_export(export))
    export.refresh_from_db()
    if export.state == JobState.FAILED:
        messages.error(request, f"The export could not start: {export.error}")
    else:
        messages.success(request, "The export has started; it appears below when it is done.")
    return redirect("frontend:study-data", study_id=study.pk)


def send_export(export: StudyExport) -> None:
    """Queue the export task; a broker that cannot be reached fails the record, not the page."""
    try:
        export_study.delay(export.pk)
    except Exception as exc:  # noqa: BLE001 — whatever the broker raised, the record says it
        log.exception("could not queue export %s", export.pk)
        export.mark_failed(f"the work queue could not be reached ({type(exc).__name__}: {exc})")
