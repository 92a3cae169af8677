"""The demo study's sessions acquired with the simulator (``acquire_demo``).

The demo instrument is shrunk to the tiny test detector and phantom so the test stays
fast; the real demo settings are checked against the instrument's capabilities.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from acquisition import demo
from acquisition import models as am
from acquisition.phantom import read_truth
from studies.datafiles import absolute
from studies.demo import seed_demo
from studies.models import ScanSession

from .conftest import TINY_DRIVER_CONFIG, TINY_PROTOCOL

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_study(settings, tmp_path):
    settings.VAR_DIR = tmp_path  # the demo passwords file goes there
    study, _ = seed_demo()
    return study


def test_demo_protocol_fits_the_demo_instrument(db):
    protocol = demo.ensure_demo_instrument()
    assert protocol.nominal_dose_mgy == pytest.approx(27.0)  # 90 × 25 ms × 100 µA × 0.12
    assert demo.ensure_demo_instrument().pk == protocol.pk  # idempotent
    settings = protocol.acquisition_settings()
    driver = protocol.instrument.make_driver()
    driver.prepare(settings)
    assert (driver.geometry().n_rows, driver.geometry().n_cols) == (128, 128)
    # the phantom's own voxel, so a reconstruction's grid coincides with the phantom's
    assert driver.geometry().voxel_um_at_axis == pytest.approx(10.0)
    assert protocol.voxel_size_um == driver.config["phantom_voxel_um"] == 10.0


def test_an_earlier_demo_setup_is_brought_to_the_current_settings(db):
    """An embedded database seeded by an earlier release: 11 µm instrument and protocol."""
    old_config = {**demo.DEMO_DRIVER_CONFIG, "sod_um": 62_500.0, "sdd_um": 250_000.0}
    instrument = am.Instrument.objects.create(
        name=demo.DEMO_INSTRUMENT, driver="simulated", driver_config=old_config,
        **demo.DEMO_HA_CALIBRATION,
    )  # fmt: skip
    old = am.ScanProtocol.objects.create(
        instrument=instrument, **{**demo.DEMO_PROTOCOL, "voxel_size_um": 11.0}
    )
    protocol = demo.ensure_demo_instrument()
    old.refresh_from_db()
    instrument.refresh_from_db()
    assert (protocol.version, protocol.previous_id, protocol.voxel_size_um) == (2, old.pk, 10.0)
    assert not old.is_current
    assert instrument.driver_config == demo.DEMO_DRIVER_CONFIG
    assert demo.ensure_demo_instrument().pk == protocol.pk  # nothing more to change


def test_acquire_demo_scans_one_animal_longitudinally(demo_study, monkeypatch):
    monkeypatch.setattr(demo, "DEMO_DRIVER_CONFIG", TINY_DRIVER_CONFIG)
    monkeypatch.setattr(demo, "DEMO_PROTOCOL", {**TINY_PROTOCOL, "name": "tiny demo"})
    sessions = ScanSession.objects.filter(animal__study=demo_study)
    ovx = sessions.filter(animal__cohort__name="OVX + vehicle").order_by("animal__label")
    first_animal = ovx.first().animal
    keep = sessions.filter(animal=first_animal).order_by("planned_at")[:2]
    sessions.exclude(pk__in=[s.pk for s in keep]).delete()
    out = io.StringIO()
    call_command("acquire_demo", "--all", stdout=out)
    assert "2 demo acquisition(s)." in out.getvalue()
    jobs = am.AcquisitionJob.objects.filter(session__animal=first_animal).order_by("created_at")
    assert [job.state for job in jobs] == ["done", "done"]
    assert {job.requested_by.username for job in jobs} == {"demo-operator"}
    truths = [read_truth(absolute(job.scan.truth_relative_path)) for job in jobs]
    assert [(t.day, t.previous_day) for t in truths] == [(0, None), (7, 0)]
    assert [t.treatments[0].agent for t in truths] == ["ovariectomy", "ovariectomy"]
    # formed − resorbed = change in trabecular bone volume between the time points
    bone = [np.count_nonzero(t.labels == 4) for t in truths]
    assert np.count_nonzero(truths[1].formed) - np.count_nonzero(truths[1].resorbed) == (
        bone[1] - bone[0]
    )
    booked = am.DoseRecord.objects.filter(animal=first_animal).values_list("dose_mgy", flat=True)
    assert list(booked) == [pytest.approx(3.6), pytest.approx(3.6)]


def test_acquire_demo_without_the_demo_study_fails_clearly(db):
    with pytest.raises(CommandError, match="run seed_demo first"):
        call_command("acquire_demo", stdout=io.StringIO())
