"""The viewer's page shell: login, the access rule, the time points it offers."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client
from django.urls import reverse

from studies import models as m
from tests.viewer.conftest import make_volume, ramp

pytestmark = pytest.mark.django_db


def page_client(world, who: str) -> Client:
    client = Client()
    client.force_login(world.users[who])
    return client


def config_of(response) -> dict:
    html = response.content.decode()
    marker = 'id="viewer-config" type="application/json">'
    start = html.index(marker) + len(marker)
    return json.loads(html[start : html.index("</script>", start)])


def test_anonymous_visitors_are_sent_to_log_in(volume):
    response = Client().get(reverse("viewer:page", args=[volume.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_another_studys_volume_page_is_404(world, volume, foreign_volume):
    client = page_client(world, "investigator")
    assert client.get(reverse("viewer:page", args=[foreign_volume.pk])).status_code == 404
    assert client.get(reverse("viewer:page", args=[volume.pk])).status_code == 200


def test_page_lists_the_time_points_of_the_same_animal_and_site(world, volume):
    later = m.ScanSession.objects.create(
        animal=world.animal,
        site=world.session.site,
        planned_at=world.study.datetime_of_day(21, dt.time(10)),
    )
    elsewhere = m.ScanSession.objects.create(
        animal=world.animal,
        site="femur-left-distal",
        planned_at=world.study.datetime_of_day(14, dt.time(10)),
    )
    follow_up = make_volume(later, "later", ramp())
    make_volume(elsewhere, "elsewhere", ramp())

    response = page_client(world, "viewer").get(reverse("viewer:page", args=[follow_up.pk]))
    config = config_of(response)
    assert config["volume"] == follow_up.pk
    assert [(t["id"], t["day"], t["current"]) for t in config["timePoints"]] == [
        (volume.pk, 7, False),
        (follow_up.pk, 21, True),
    ]
    assert config["urls"]["data"] == "/volumes/{id}/data/"
    assert config["urls"]["page"] == "/volumes/{id}/view/"
    html = response.content.decode()
    assert "WebGL2" in html  # the message shown where WebGL2 is missing
    assert 'type="module"' in html and "frontend/viewer/main.js" in html
