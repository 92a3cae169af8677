"""A reconstruction's viewer offers the segmentation of its newest morphometry as an overlay."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.test import Client
from django.urls import reverse

from analysis import jobs
from analysis import models as am
from analysis.measurement import normalise_parameters
from recon.models import Volume, VolumeKind
from studies.vocabulary import JobState
from tests.viewer.conftest import make_volume
from tests.viewer.page_probes import ALL_VIEWS_DRAWN, PIXEL, viewer_opener, voxel_centre

SHAPE = (24, 20, 16)  # z, y, x
# Otsu's threshold between the two values; the whole volume is the trabecular VOI.
PARAMETERS = {"segmentation": {"sigma_vox": 0.0}, "regions": {"compartments": "none"}}


def plates(shape=SHAPE) -> np.ndarray:
    """Bone (4.0 1/cm) in planes x = 2–5 and 10–13, marrow (0.5 1/cm) elsewhere."""
    grey = np.full(shape, 0.5, np.float32)
    grey[:, :, 2:6] = 4.0
    grey[:, :, 10:14] = 4.0
    return grey


def measured(session, name="recon") -> tuple[Volume, am.MorphometryResult]:
    """A reconstruction volume of plates and a morphometry of it (run in this process)."""
    volume = make_volume(session, name, plates())
    job = am.AnalysisJob.objects.create(
        kind="morphometry",
        volume=volume,
        parameters=normalise_parameters("morphometry", PARAMETERS),
    )
    assert jobs.run_analysis(job.pk) == JobState.DONE, am.AnalysisJob.objects.get(pk=job.pk).error
    return volume, am.MorphometryResult.objects.get(job=job)


def config_of(response) -> dict:
    html = response.content.decode()
    marker = 'id="viewer-config" type="application/json">'
    start = html.index(marker) + len(marker)
    return json.loads(html[start : html.index("</script>", start)])


def logged_in(world, who: str) -> Client:
    client = Client()
    client.force_login(world.users[who])
    return client


@pytest.mark.django_db
def test_the_page_offers_the_newest_morphometrys_segmentation(world):
    volume, first = measured(world.session)
    again = am.AnalysisJob.objects.create(
        kind="morphometry",
        volume=volume,
        parameters=normalise_parameters("morphometry", PARAMETERS),
    )
    assert jobs.run_analysis(again.pk) == JobState.DONE
    newest = am.MorphometryResult.objects.get(job=again)

    config = config_of(logged_in(world, "viewer").get(reverse("viewer:page", args=[volume.pk])))
    (overlay,) = config["overlays"]
    assert (overlay["name"], overlay["volume"], overlay["result"]) == (
        "segmentation",
        newest.label_volume_id,
        newest.pk,
    )
    assert overlay["volume"] != first.label_volume_id
    assert [c["name"] for c in overlay["classes"]] == [
        "trabecular bone",
        "cortical bone",
        "marrow",
        "other bone",
    ]
    # Label volumes are overlays, not time points of their own.
    assert [t["id"] for t in config["timePoints"]] == [volume.pk]


@pytest.mark.django_db
def test_a_segmentation_volume_opens_its_reconstructions_viewer(world):
    volume, result = measured(world.session)
    client = logged_in(world, "viewer")
    response = client.get(reverse("viewer:page", args=[result.label_volume_id]))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('viewer:page', args=[volume.pk])}#ov=segmentation"
    outsider = logged_in(world, "outsider")
    assert outsider.get(reverse("viewer:page", args=[result.label_volume_id])).status_code == 404


@pytest.mark.django_db
def test_segmentation_volumes_are_not_listed_as_volumes_of_the_session(world):
    volume, result = measured(world.session)
    assert Volume.objects.filter(kind=VolumeKind.SEGMENTATION).count() == 1
    page = logged_in(world, "viewer").get(
        reverse("frontend:session-detail", args=[world.study.pk, world.session.pk])
    )
    html = page.content.decode()
    assert reverse("viewer:page", args=[volume.pk]) in html
    assert reverse("viewer:page", args=[result.label_volume_id]) not in html


# -- in the browser -------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_segmentation_overlay_colours_bone_and_toggles(world, chromium, live_server):
    volume, result = measured(world.session)
    with viewer_opener(world.users, chromium, live_server.url) as open_viewer:
        page = open_viewer(volume)
        page.wait_for_function(ALL_VIEWS_DRAWN, timeout=30_000)
        assert page.evaluate("() => window.nanoscope.state.overlay") == ""  # grey first

        bone = voxel_centre(12, 10, 3)  # inside the plate x = 2–5
        marrow = voxel_centre(12, 10, 7)
        x, y = page.evaluate("(p) => window.nanoscope.toScreen('Axial', p)", bone)
        mx, my = page.evaluate("(p) => window.nanoscope.toScreen('Axial', p)", marrow)
        grey_bone, grey_marrow = page.evaluate(PIXEL, [x, y]), page.evaluate(PIXEL, [mx, my])
        assert grey_bone[0] == grey_bone[1] == grey_bone[2] and grey_bone[0] > 200, grey_bone

        page.select_option("#overlay-select", "segmentation")
        page.wait_for_function(ALL_VIEWS_DRAWN, timeout=30_000)
        on = page.evaluate(PIXEL, [x, y])
        # Trabecular bone: #ffd166 at 60 % over white; marrow: #118ab2 at 35 % over black.
        assert on[0] > on[2] + 60, on
        assert page.evaluate(PIXEL, [mx, my]) != grey_marrow
        # The read-out names the class under the cursor.
        stage = page.locator("#viewer-gl").bounding_box()
        page.mouse.move(stage["x"] + x, stage["y"] + y)
        page.wait_for_function(
            "() => document.getElementById('readout-label').textContent === 'trabecular bone'"
        )

        page.locator('input[data-class="trabecular bone"]').uncheck()
        page.wait_for_timeout(300)
        assert page.evaluate(PIXEL, [x, y]) == grey_bone  # off: the grey value again
        page.locator('input[data-class="trabecular bone"]').check()
        page.wait_for_timeout(300)
        assert page.evaluate(PIXEL, [x, y]) == on
        # The overlay's slices came from the label volume's own endpoint.
        label_url = reverse("viewer:label", args=[result.label_volume_id, "segmentation"])
        assert page.evaluate(
            "(u) => performance.getEntriesByType('resource').some((e) => e.name.includes(u))",
            label_url,
        )
        assert page.errors == []
