"""The audit log of a study (owners and investigators, as in the API)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse

from studies.audit import audited_models
from studies.models import AuditEvent
from studies.vocabulary import Role

from ..access import study_for
from .common import study_page

PAGE_SIZE = 25
_HIDDEN = {"id"}


def _short(value: object) -> object:
    """An ISO datetime to the second (``2026-01-05 09:30:12``); anything else as it is."""
    if isinstance(value, str) and len(value) >= 19 and value[10] == "T" and value[4] == "-":
        return value[:19].replace("T", " ")
    return value


def change_rows(event: AuditEvent) -> list[tuple[str, object, object]]:
    """``(field, before, after)`` of an event; a creation lists only the fields it set."""
    rows = []
    for name, (before, after) in sorted(event.changes.items()):
        if name in _HIDDEN:
            continue
        if event.action == AuditEvent.Action.CREATE and after in (None, ""):
            continue
        if event.action == AuditEvent.Action.DELETE and before in (None, ""):
            continue
        rows.append((name.removesuffix("_id"), _short(before), _short(after)))
    return rows


@login_required
def study_audit(request: HttpRequest, study_id: int) -> HttpResponse:
    study = study_for(request, study_id, Role.INVESTIGATOR)
    models = {m._meta.label_lower: m._meta.verbose_name for m in audited_models()}
    events = AuditEvent.objects.filter(study=study).order_by("-at", "-id")
    chosen = request.GET.get("model", "")
    if chosen in models:
        events = events.filter(model=chosen)
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    return study_page(
        request,
        study,
        "audit",
        "frontend/study_audit.html",
        page=page,
        rows=[(event, change_rows(event)) for event in page],
        models=sorted(models.items()),
        chosen=chosen,
    )
