"""A landing volume starts its analyses: the signal, and once end to end on a real worker."""

from __future__ import annotations

import pytest

from analysis import models as am
from recon.models import Volume, VolumeKind
from studies.vocabulary import JobState, SessionState
from tests.conftest import wait_until

from .records import land_volume, plates


def _ours(callbacks: list) -> list:
    """The callbacks of this app's receiver (other apps listen to new volumes too)."""
    return [c for c in callbacks if c.__qualname__.startswith("analyse_new_volume.")]


@pytest.mark.django_db
def test_only_reconstructed_volumes_start_analyses(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        volume = land_volume(world.session, plates())
    assert len(_ours(callbacks)) == 1
    with django_capture_on_commit_callbacks() as callbacks:
        Volume.objects.create(
            session=world.session, kind=VolumeKind.REMODELLING, relative_path="labels.h5",
            sha256=volume.sha256, size_bytes=1, shape=[1, 1, 1], voxel_size_um=10.0,
            units="mgHA/cm3", n_levels=1,
        )  # fmt: skip
    assert _ours(callbacks) == []
    assert not am.AnalysisJob.objects.exists()  # nothing runs before the commit


def _finished(job_id: int):
    job = am.AnalysisJob.objects.get(pk=job_id)
    return job if job.is_finished else None


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_landed_volume_is_measured_on_the_worker_and_listed(world, celery_worker):
    volume = land_volume(world.session, plates())
    job = wait_until(lambda: am.AnalysisJob.objects.filter(volume=volume).first(), timeout_s=10)
    assert (job.kind, job.automatic) == ("morphometry", True)
    assert am.AnalysisJob.objects.filter(volume=volume).count() == 1  # no earlier session

    job = wait_until(lambda: _finished(job.pk), timeout_s=180)
    assert job.state == JobState.DONE, job.error
    assert job.worker.startswith("tests@")
    world.session.refresh_from_db()
    assert world.session.state == SessionState.ANALYSED

    listed = (
        world.client("viewer")
        .get("/api/v1/morphometry-results/", {"session": world.session.pk})
        .json()["results"]
    )
    assert [r["job"] for r in listed] == [job.pk]
    # Default settings (Gaussian σ = 1 voxel, the calibrated volume's fixed 500 mgHA/cm³)
    # on 4-voxel plates every 10 voxels.
    assert listed[0]["bv_tv"] == pytest.approx(0.4, rel=0.05)
    assert (listed[0]["threshold_method"], listed[0]["threshold"]) == ("fixed", 500.0)
