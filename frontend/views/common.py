"""What every study page shares: the tabs, the role abilities and the record-form flow."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from studies.models import Study

from ..access import Abilities


@dataclass(frozen=True)
class Tab:
    key: str
    label: str
    url: str


def study_tabs(study: Study, abilities: Abilities) -> list[Tab]:
    """The study's sub-pages, in order; a page joins the study by adding its tab here."""
    tabs = [
        Tab("animals", "Cohorts & animals", reverse("frontend:study-detail", args=[study.pk])),
        Tab("schedule", "Schedule", reverse("frontend:study-schedule", args=[study.pk])),
        Tab("members", "Members", reverse("frontend:study-members", args=[study.pk])),
        Tab("data", "Import & export", reverse("frontend:study-data", args=[study.pk])),
        Tab("dose", "Dose", reverse("frontend:study-dose", args=[study.pk])),
        Tab("analysis", "Analysis", reverse("frontend:study-analysis", args=[study.pk])),
    ]
    if abilities.read_audit:
        tabs.append(Tab("audit", "Audit log", reverse("frontend:study-audit", args=[study.pk])))
    return tabs


def study_page(
    request: HttpRequest, study: Study, tab: str, template: str, **context
) -> HttpResponse:
    """Render one tab of a study with the header, the tabs and the user's abilities."""
    abilities = Abilities.of(request.user, study)
    context.update(
        study=study,
        may=abilities,
        tabs=study_tabs(study, abilities),
        active_tab=tab,
        today_day=study.study_day(timezone.localdate()),
    )
    return render(request, template, context)


def form_page(
    request: HttpRequest,
    form: forms.BaseForm,
    *,
    study: Study | None,
    title: str,
    cancel_url: str,
    success_url: Callable[[models.Model], str] | str,
    save: Callable[[forms.BaseForm], models.Model] | None = None,
    intro: str = "",
) -> HttpResponse:
    """The create/edit flow of one record: validate, save (audited as "page"), redirect.

    An invalid form is shown again with each message next to its field and nothing is
    written.  ``save`` replaces ``form.save()`` where the view adds fields of its own.
    """
    if request.method == "POST" and form.is_valid():
        record = save(form) if save is not None else form.save()
        messages.success(request, f"Saved {record._meta.verbose_name} “{record}”.")
        return redirect(success_url(record) if callable(success_url) else success_url)
    context = {
        "study": study,
        "form": form,
        "title": title,
        "intro": intro,
        "cancel_url": cancel_url,
        "may": Abilities.of(request.user, study) if study is not None else None,
    }
    return render(request, "frontend/record_form.html", context)


def welfare_level(percent: float | None, study: Study) -> str:
    """``"endpoint"``, ``"warning"`` or ``""`` for a weight change (% of baseline)."""
    if percent is None:
        return ""
    if percent <= -study.weight_loss_endpoint_pct:
        return "endpoint"
    if percent <= -study.weight_loss_warning_pct:
        return "warning"
    return ""


def saved_by(user, field: str) -> Callable[[forms.ModelForm], models.Model]:
    """A ``save`` for :func:`form_page` that records ``user`` in ``field`` if it is empty.

    The first person to record the weighing or the dose keeps the credit when someone
    corrects it later (the audit trail shows who changed what).
    """

    def save(form: forms.ModelForm) -> models.Model:
        record = form.save(commit=False)
        if getattr(record, f"{field}_id") is None:
            setattr(record, field, user)
        record.save()
        return record

    return save
