"""Instruments, versioned protocols and the ledger queries (acquisition/models.py)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from acquisition import models as am
from studies.models import AuditEvent

from .conftest import TINY_DOSE_MGY, TINY_PROTOCOL

pytestmark = pytest.mark.django_db


def test_nominal_dose_comes_from_the_instrument_calibration(instrument, protocol):
    assert protocol.nominal_dose_mgy == pytest.approx(TINY_DOSE_MGY, rel=1e-12)
    hot = am.Instrument.objects.create(
        name="hot", driver="simulated", dose_constant_mgy_per_uas=0.24, dose_reference_kv=30.0
    )
    other = am.ScanProtocol.objects.create(instrument=hot, name="tiny", **TINY_PROTOCOL)
    # twice the constant, (60/30)² = 4 times the voltage factor
    assert other.nominal_dose_mgy == pytest.approx(TINY_DOSE_MGY * 8, rel=1e-12)


def test_editing_a_protocol_makes_a_new_version(protocol, staff):
    successor = protocol.new_version(created_by=staff, n_projections=24)
    protocol.refresh_from_db()
    assert (successor.version, successor.is_current, successor.previous_id) == (
        2,
        True,
        protocol.pk,
    )
    assert not protocol.is_current
    assert protocol.n_projections == 12  # the stored version is unchanged
    assert successor.nominal_dose_mgy == pytest.approx(2 * TINY_DOSE_MGY, rel=1e-12)
    assert successor.created_by == staff


def test_a_stored_version_cannot_be_changed_in_place(protocol):
    protocol.kv = 80
    with pytest.raises(am.ProtocolImmutable):
        protocol.save()


def test_invalid_new_version_stores_nothing(protocol):
    with pytest.raises(ValidationError) as caught:
        protocol.new_version(exposure_s=0.5)  # longer than one frame at 3 frames/s
    assert "exposure_s" in caught.value.message_dict
    protocol.refresh_from_db()
    assert protocol.is_current
    assert am.ScanProtocol.objects.count() == 1


def test_protocol_beyond_the_instrument_is_invalid(instrument):
    too_fast = am.ScanProtocol(instrument=instrument, name="fast", **{**TINY_PROTOCOL, "kv": 150})
    with pytest.raises(ValidationError, match="kv=150"):
        too_fast.full_clean()


def test_unknown_driver_is_invalid(db):
    instrument = am.Instrument(name="x", driver="nonesuch")
    with pytest.raises(ValidationError) as caught:
        instrument.full_clean()
    assert "unknown driver 'nonesuch'" in caught.value.message_dict["driver"][0]


def test_bad_driver_configuration_is_invalid(db):
    instrument = am.Instrument(name="x", driver="simulated", driver_config={"detector": 1})
    with pytest.raises(ValidationError, match="unknown simulated-driver config"):
        instrument.full_clean()


def test_committed_dose_counts_booked_and_pending_scans(world, protocol):
    animal, site = world.animal, world.session.site
    am.DoseRecord.objects.create(animal=animal, site=site, dose_mgy=10.0, kind="full")
    am.DoseRecord.objects.create(animal=animal, site="L5-vertebra", dose_mgy=99.0, kind="full")
    job = am.AcquisitionJob.objects.create(
        session=world.session, protocol=protocol, instrument=protocol.instrument,
        nominal_dose_mgy=3.6,
    )  # fmt: skip
    assert am.committed_dose_mgy(animal, site) == pytest.approx(13.6)
    assert am.committed_dose_mgy(animal, site, exclude_job=job.pk) == pytest.approx(10.0)
    am.AcquisitionJob.objects.filter(pk=job.pk).update(state="done")
    assert am.committed_dose_mgy(animal, site) == pytest.approx(10.0)


def test_protocol_changes_are_audited(protocol, staff):
    protocol.new_version(created_by=staff, kv=50)
    events = AuditEvent.objects.filter(model="acquisition.scanprotocol").order_by("id")
    assert [e.action for e in events] == ["create", "update", "create"]
    assert events[1].changes["is_current"] == [True, False]


def test_admin_save_of_a_changed_protocol_stores_a_new_version(client, protocol):
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_superuser("root", password="pw-root-123456")
    client.force_login(admin)
    form = {**TINY_PROTOCOL, "instrument": protocol.instrument_id, "name": "tiny"}
    form.update(flats_before="on", n_projections=24, notes="more projections")
    response = client.post(f"/admin/acquisition/scanprotocol/{protocol.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    versions = am.ScanProtocol.objects.filter(name="tiny").order_by("version")
    assert [(p.version, p.is_current, p.n_projections) for p in versions] == [
        (1, False, 12),
        (2, True, 24),
    ]
    assert versions[1].created_by == admin


def test_a_lab_registers_its_own_driver_in_settings(db, settings):
    settings.NANOSCOPE_DRIVERS = {
        **settings.NANOSCOPE_DRIVERS,
        "lab-xrm": "acquisition.drivers.simulated.SimulatedXrayMicroscope",
    }
    instrument = am.Instrument(name="lab", driver="lab-xrm", driver_config={"pixel_um": 9.0})
    instrument.full_clean()
    assert instrument.make_driver().capabilities.detector.pixel_um == 9.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("lab=mylab.drivers.Versa", "mylab.drivers.Versa"),
        ("lab = mylab.drivers.Versa , ", "mylab.drivers.Versa"),
        ("lab", "ImproperlyConfigured"),
    ],
)
def test_nanoscope_drivers_environment_variable(value, expected):
    import os
    import subprocess
    import sys

    code = (
        "import nanoscope_web.settings as s; print(s.NANOSCOPE_DRIVERS.get('lab'), "
        "s.NANOSCOPE_DRIVERS['simulated'])"
    )
    env = {**os.environ, "NANOSCOPE_DRIVERS": value}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert expected in result.stdout + result.stderr
    if expected != "ImproperlyConfigured":
        assert "SimulatedXrayMicroscope" in result.stdout  # the built-in stays
