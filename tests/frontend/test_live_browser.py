"""Live acquisition progress in Chromium, with a real scan run by a real Celery worker.

An operator starts a paced scan of the tiny simulated instrument from the session page;
the worker (``tests/conftest.py``: real PostgreSQL, Redis and worker process) writes
progress into the job record; the page's ``live.js`` polls the acquisition API and the
test watches the frame count grow without a reload, pauses and resumes the scan with
the page's buttons, and sees the page show the finished scan.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from acquisition import models as am
from recon.models import ReconstructionDefaults
from tests.acquisition.conftest import TINY_DRIVER_CONFIG, TINY_PROTOCOL
from tests.frontend.test_browser import login  # noqa: F401 — fixture

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
]

#: 2 darks + 2 flats + 24 projections at 2 frames/s: about 14 s, slow enough to watch.
N_PROJECTIONS = 24
FRAMES = 28
FRAME_RATE_HZ = 2.0
WAIT_MS = 90_000

FRAMES_DONE = "[data-live-job=acquisition] [data-field=frames_done]"
STATE = "[data-live-job=acquisition] [data-field=state]"


@pytest.fixture
def slow_protocol(db):
    instrument = am.Instrument.objects.create(
        name="XRM-live", driver="simulated", driver_config=TINY_DRIVER_CONFIG
    )
    protocol = am.ScanProtocol.objects.create(
        instrument=instrument,
        name="watchable",
        **{**TINY_PROTOCOL, "n_projections": N_PROJECTIONS, "frame_rate_hz": FRAME_RATE_HZ},
    )
    # This test watches the scan; the reconstruction that would follow is another test's.
    ReconstructionDefaults.objects.create(protocol=protocol, enabled=False)
    return protocol


def _frames_done(page) -> int:
    return int(page.locator(FRAMES_DONE).inner_text())


def test_the_session_page_follows_a_real_scan_live(
    world,
    slow_protocol,
    celery_worker,
    login,  # noqa: F811 — the imported fixture
    live_server,
):
    page = login("operator")
    session_url = reverse("frontend:session-detail", args=[world.study.pk, world.session.pk])
    page.goto(f"{live_server.url}{session_url}")
    page.select_option("#id_protocol", str(slow_protocol.pk))
    page.click("button:has-text('Start acquisition')")
    page.wait_for_selector(".message.success:has-text('queued on the instrument')")
    job = am.AcquisitionJob.objects.get(session=world.session)
    assert page.locator("[data-live-job=acquisition]").get_attribute("data-url") == reverse(
        "acquisitionjob-detail", args=[job.pk]
    )

    # Progress arrives by polling: the page is never reloaded while the scan runs.
    page.evaluate("window.__sameDocument = true")
    page.wait_for_function(
        f"() => Number(document.querySelector('{FRAMES_DONE}').textContent) >= 3",
        timeout=WAIT_MS,
    )
    first = _frames_done(page)
    page.wait_for_function(
        f"() => Number(document.querySelector('{FRAMES_DONE}').textContent) > {first}",
        timeout=WAIT_MS,
    )
    assert _frames_done(page) > first
    assert page.evaluate("window.__sameDocument") is True
    assert page.locator("[data-live-job=acquisition] [data-field=frames_total]").inner_text() == (
        str(FRAMES)
    )
    rate = page.locator("[data-field=frame_rate_achieved_hz]").inner_text()
    assert float(rate) > 0  # written by the worker, formatted by live.js ("1.98")
    width = page.locator("[data-live-job=acquisition] [data-bar]").evaluate("e => e.style.width")
    assert 0 < float(width.rstrip("%")) < 100

    # Pause with the page's button: the worker stops after its frame and says so.
    page.click("[data-live-job=acquisition] button[data-action=pause]")
    page.wait_for_selector(f"{STATE}:has-text('Paused')", timeout=WAIT_MS)
    assert page.locator("button[data-action=resume]").is_visible()
    assert not page.locator("button[data-action=pause]").is_visible()
    job.refresh_from_db()
    assert job.state == "paused"

    page.click("[data-live-job=acquisition] button[data-action=resume]")
    # When the scan is done the page reloads itself and shows the finished record.
    page.wait_for_selector(f"{STATE}:has-text('Done')", timeout=WAIT_MS)
    page.wait_for_selector("#session-state:has-text('Acquired')", timeout=WAIT_MS)
    assert page.evaluate("window.__sameDocument === undefined")  # the reload happened
    assert _frames_done(page) == FRAMES
    job.refresh_from_db()
    assert (job.state, job.frames_done, job.projections_done) == ("done", FRAMES, N_PROJECTIONS)
    assert not page.locator("button[data-action=abort]").is_visible()
