"""Acquire the demo study's scan sessions with the simulated X-ray microscope.

The demo study ("OVX and zoledronate", ``studies/demo.py``) plans weekly scans of the
right proximal tibia.  This module gives the lab a simulated instrument and a small,
binned protocol (128 × 128 frames, 90 projections, a 112³ phantom at 10 µm: a few
seconds per scan, 27 mGy each) and scans the sessions in date order, so each animal's
phantom remodels from one time point to the next according to its cohort's treatments.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from studies.audit import audit_context
from studies.demo import DEMO_TITLE
from studies.models import ScanSession, Study
from studies.vocabulary import AnatomicalSite, SessionState

from . import jobs
from .models import Instrument, ScanProtocol

DEMO_INSTRUMENT = "Simulated XRM (demo)"
DEMO_OPERATOR = "demo-operator"
#: A 512² detector (binned ×4: 128² frames of 44 µm) at magnification 4 (11 µm voxels).
DEMO_DRIVER_CONFIG = {
    "detector_shape": [512, 512],
    "sod_um": 62_500.0,
    "sdd_um": 250_000.0,
    "phantom_shape": [112, 112, 112],
    "phantom_voxel_um": 10.0,
}
DEMO_PROTOCOL = {
    "name": "Demo tibia, binned ×4",
    "site": AnatomicalSite.TIBIA_RIGHT_PROXIMAL,
    "kv": 60.0,
    "ua": 100.0,
    "exposure_s": 0.025,
    "frame_rate_hz": 20.0,
    "n_projections": 90,
    "angular_range_deg": 360.0,
    "binning": 4,
    "voxel_size_um": 11.0,
    "n_flats": 5,
    "n_darks": 5,
    "notes": "Small binned scan for the embedded demo.",
}


def ensure_demo_instrument() -> ScanProtocol:
    """The demo's simulated instrument and the current version of its protocol (idempotent)."""
    with transaction.atomic(), audit_context(source="command", reason="demo instrument"):
        instrument, _ = Instrument.objects.get_or_create(
            name=DEMO_INSTRUMENT,
            defaults={
                "driver": "simulated",
                "driver_config": DEMO_DRIVER_CONFIG,
                "location": "simulated",
                "ha_intercept_per_cm": 0.268,  # the phantom's materials (40 keV effective)
                "ha_slope_per_cm_per_mgha": 0.90e-3,
            },
        )
        protocol = ScanProtocol.objects.filter(
            instrument=instrument, name=DEMO_PROTOCOL["name"], is_current=True
        ).first()
        if protocol is None:
            protocol = ScanProtocol(instrument=instrument, **DEMO_PROTOCOL)
            protocol.full_clean()
            protocol.save()
    return protocol


def demo_sessions(study: Study, *, include_future: bool = False):
    """The demo study's planned sessions (due ones only, unless ``include_future``)."""
    sessions = ScanSession.objects.filter(
        animal__study=study, state=SessionState.PLANNED
    ).select_related("animal")
    if not include_future:
        sessions = sessions.filter(planned_at__lte=timezone.now())
    return sessions.order_by("planned_at", "animal__label")


def acquire_demo(
    *,
    include_future: bool = False,
    limit: int | None = None,
    paced: bool = False,
    via_worker: bool = False,
    report: Callable[[str], None] = lambda line: None,
) -> list[int]:
    """Scan the demo study's planned sessions with the simulator; return the job ids.

    Parameters
    ----------
    include_future : bool
        Also scan sessions planned after now (the whole longitudinal series).
    limit : int, optional
        Scan at most this many sessions.
    paced : bool
        Real-time frames (for watching a scan live) instead of as fast as possible.
    via_worker : bool
        Queue the scans on the ``instrument`` queue instead of running them here.
    report : callable
        Receives one line per session.

    Raises
    ------
    ValueError
        When the demo study has not been seeded (``manage.py seed_demo``).
    """
    study = Study.objects.filter(title=DEMO_TITLE).first()
    if study is None:
        raise ValueError(f"the demo study {DEMO_TITLE!r} does not exist: run seed_demo first")
    protocol = ensure_demo_instrument()
    operator = get_user_model().objects.filter(username=DEMO_OPERATOR).first()
    sessions = list(demo_sessions(study, include_future=include_future)[:limit])
    job_ids = []
    for session in sessions:
        with audit_context(user=operator, source="command", reason="demo acquisition"):
            job = jobs.request_acquisition(
                session, protocol, user=operator, paced=paced, source="command"
            )
        job_ids.append(job.pk)
        if via_worker:
            from .tasks import run_acquisition

            run_acquisition.delay(job.pk)
            report(f"{session}: queued as acquisition {job.pk}")
            continue
        outcome = jobs.execute(job.pk, owner=f"acquire_demo:{os.getpid()}:{job.pk}")
        report(f"{session}: {outcome.state} ({outcome.message})")
    return job_ids
