"""Every page × every role: the exact status code (the API's rule, served to the pages).

A member whose role reaches the page's level gets 200; a weaker role 403; a member of
another study 404 (the study's existence does not leak); an anonymous visitor is sent
to the log-in page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.urls import reverse

from studies import models as m
from studies.models import role_at_least

from .conftest import World

ACTORS = ["owner", "investigator", "operator", "viewer", "outsider", None]


@dataclass(frozen=True)
class Page:
    name: str
    args: Callable[[World], list]
    role: str


def _study(w: World) -> list:
    return [w.study.pk]


PAGES = [
    Page("study-detail", _study, "viewer"),
    Page("study-schedule", _study, "viewer"),
    Page("study-members", _study, "viewer"),
    Page("study-data", _study, "viewer"),
    Page("study-audit", _study, "investigator"),
    Page("study-edit", _study, "investigator"),
    Page("cohort-new", _study, "investigator"),
    Page("cohort-edit", lambda w: [w.study.pk, w.cohort.pk], "investigator"),
    Page("treatment-new", _study, "investigator"),
    Page("treatment-edit", lambda w: [w.study.pk, w.treatment.pk], "investigator"),
    Page("animal-new", _study, "investigator"),
    Page("animal-edit", lambda w: [w.study.pk, w.animal.pk], "investigator"),
    Page("animal-detail", lambda w: [w.study.pk, w.animal.pk], "viewer"),
    Page("weight-new", lambda w: [w.study.pk, w.animal.pk], "operator"),
    Page("weight-edit", lambda w: [w.study.pk, w.animal.pk, w.weight.pk], "operator"),
    Page("administration-complete", lambda w: [w.study.pk, w.administration.pk], "operator"),
    Page("session-new", _study, "operator"),
    Page("session-detail", lambda w: [w.study.pk, w.session.pk], "viewer"),
    Page("session-edit", lambda w: [w.study.pk, w.session.pk], "operator"),
]


def expected_status(who: str | None, needed: str) -> int:
    if who is None:
        return 302
    if who == "outsider":
        return 404
    return 200 if role_at_least(who, needed) else 403


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
@pytest.mark.parametrize("who", ACTORS, ids=str)
def test_page_status_per_role(world, pages, page, who):
    url = reverse(f"frontend:{page.name}", args=page.args(world))
    response = pages(who).get(url)
    assert response.status_code == expected_status(who, page.role)
    if who is None:
        assert response.url.startswith(reverse("login"))


POSTS = [
    Page("study-members", _study, "owner"),
    Page("member-role", lambda w: [w.study.pk, _viewer_membership(w)], "owner"),
    Page("member-remove", lambda w: [w.study.pk, _viewer_membership(w)], "owner"),
    Page("study-data", _study, "investigator"),
    Page("treatment-plan", lambda w: [w.study.pk, w.treatment.pk], "investigator"),
    Page("session-transition", lambda w: [w.study.pk, w.session.pk], "operator"),
]


def _viewer_membership(w: World) -> int:
    return m.Membership.objects.get(study=w.study, user=w.users["viewer"]).pk


REFUSED = [
    (page, who)
    for page in POSTS
    for who in ["investigator", "operator", "viewer", "outsider"]
    if who == "outsider" or not role_at_least(who, page.role)
]


@pytest.mark.parametrize(("page", "who"), REFUSED, ids=lambda v: getattr(v, "name", v))
def test_weak_roles_cannot_post_and_outsiders_get_404(world, pages, page, who):
    url = reverse(f"frontend:{page.name}", args=page.args(world))
    events_before = m.AuditEvent.objects.count()
    response = pages(who).post(url, {"state": "queued", "role": "owner", "user": "outsider"})
    assert response.status_code == (404 if who == "outsider" else 403)
    assert m.AuditEvent.objects.count() == events_before  # nothing was written


def test_a_foreign_record_under_my_study_url_is_404(world, pages):
    url = reverse("frontend:animal-detail", args=[world.study.pk, world.other_animal.pk])
    assert pages("owner").get(url).status_code == 404


def test_superuser_sees_every_study(world, pages):
    admin = world.users["outsider"]
    admin.is_superuser = True
    admin.save()
    url = reverse("frontend:study-audit", args=[world.study.pk])
    assert pages("outsider").get(url).status_code == 200


@pytest.mark.parametrize("who", ["viewer", "outsider"])
def test_anyone_logged_in_may_open_the_new_study_form(world, pages, who):
    response = pages(who).get(reverse("frontend:study-new"))
    assert response.status_code == 200
    assert response.context["form"].instance.pk is None


def test_study_list_and_dashboard_show_only_my_studies(world, pages):
    for name in ("frontend:study-list", "frontend:dashboard"):
        body = pages("viewer").get(reverse(name)).content.decode()
        assert reverse("frontend:study-detail", args=[world.study.pk]) in body
        assert reverse("frontend:study-detail", args=[world.other_study.pk]) not in body
