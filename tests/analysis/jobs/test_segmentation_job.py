"""The label-only segmentation volume a morphometry job writes, and how it is read back."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from django.urls import reverse

from analysis import jobs
from analysis import models as am
from analysis.measurement import StaticFigures
from analysis.segmentation import separate_compartments
from recon.models import Volume, VolumeKind
from recon.volume_store import read_metadata
from studies.datafiles import absolute, sha256_of
from studies.vocabulary import JobState

from .records import VOXEL_UM, land_volume, plates

EXACT = {"segmentation": {"sigma_vox": 0.0, "threshold_mgha_cm3": 500.0}}
WHOLE = {**EXACT, "regions": {"compartments": "none"}}
TRABECULAR, CORTICAL, MARROW, OTHER = 1, 2, 3, 4
VOXEL_MM3 = (VOXEL_UM / 1000) ** 3


def stored_labels(volume: Volume, level: int = 0) -> np.ndarray:
    with h5py.File(absolute(volume.relative_path), "r") as f:
        return f[f"labels/segmentation/{level}"][...]


def shell_with_septum(nz: int = 8, n: int = 48) -> np.ndarray:
    """An 8-voxel cortex (radius 12–20) around marrow crossed by a 2-voxel septum."""
    y, x = np.mgrid[:n, :n] - (n - 1) / 2
    r = np.hypot(x, y)
    bone = ((r <= 20) & (r > 12)) | ((np.abs(x) < 1) & (r <= 12))
    return np.broadcast_to(np.where(bone, 1000.0, 0.0), (nz, n, n)).astype(np.float32)


@pytest.mark.django_db
def test_morphometry_writes_its_segmentation_labels(world):
    grey = plates()
    volume = land_volume(world.session, grey)
    job = jobs.start_analysis(volume, "morphometry", parameters=WHOLE)
    assert jobs.run_analysis(job.pk) == JobState.DONE
    result = am.MorphometryResult.objects.get(job=job)

    labels = result.label_volume
    assert labels.kind == VolumeKind.SEGMENTATION and labels.session_id == volume.session_id
    assert labels.relative_path.endswith(f"analysis-{job.pk}.segmentation.h5")
    path = absolute(labels.relative_path)
    assert sha256_of(path) == labels.sha256 and labels.size_bytes == path.stat().st_size
    meta = read_metadata(path)
    source = read_metadata(absolute(volume.relative_path))
    assert meta.shapes == source.shapes and labels.n_levels == volume.n_levels
    assert labels.shape == list(grey.shape) and labels.voxel_size_um == VOXEL_UM
    assert meta.provenance["source_sha256"] == volume.sha256
    assert meta.provenance["analysis_job_id"] == job.pk
    assert meta.provenance["parameters"] == result.parameters
    assert meta.provenance["code_version"] == result.code_version
    assert meta.provenance["labels"]["segmentation"]["1"] == "trabecular bone"
    body = world.client("viewer").get(f"/api/v1/morphometry-results/{result.pk}/").json()
    assert body["label_volume"] == labels.pk

    stored = stored_labels(labels)
    # The whole volume is the VOI: bone is trabecular bone, the rest marrow.
    assert np.array_equal(stored == TRABECULAR, grey > 500)
    assert np.count_nonzero(stored == TRABECULAR) * VOXEL_MM3 == pytest.approx(result.bv_mm3)
    assert np.count_nonzero(stored == TRABECULAR) / stored.size == pytest.approx(0.4, abs=1e-12)
    assert np.count_nonzero((stored == TRABECULAR) | (stored == MARROW)) * VOXEL_MM3 == (
        pytest.approx(result.tv_mm3)
    )
    job.refresh_from_db()
    assert set(job.timings) == {"read_s", "measure_s", "write_s"}
    # The label volume starts no analysis of its own and is not measured again.
    assert am.AnalysisJob.objects.count() == 1


@pytest.mark.django_db
def test_cortex_trabeculae_and_marrow_get_their_classes(world):
    grey = shell_with_septum()
    volume = land_volume(world.session, grey)
    job = jobs.start_analysis(volume, "morphometry", parameters=EXACT)
    assert jobs.run_analysis(job.pk) == JobState.DONE, job.error
    result = job.morphometry
    stored = stored_labels(result.label_volume)

    bone = grey > 500
    medulla = separate_compartments(bone).trabecular
    assert np.array_equal(stored == TRABECULAR, bone & medulla)
    assert np.array_equal(stored == MARROW, medulla & ~bone)
    assert np.count_nonzero(stored == TRABECULAR) * VOXEL_MM3 == pytest.approx(result.bv_mm3)
    # The shell is cortex: its area per slice is Ct.Ar, and no bone is left unclassified.
    cortex_area_mm2 = np.count_nonzero(stored[0] == CORTICAL) * (VOXEL_UM / 1000) ** 2
    assert cortex_area_mm2 == pytest.approx(result.ct_ar_mm2, rel=0.05)
    assert not np.any((stored == 0) & bone) and not np.any(stored == OTHER)
    centre, rim = stored[4, 24, 18], stored[4, 24, 40]  # marrow (r = 5.5), shell (r = 16.5)
    assert (centre, rim) == (MARROW, CORTICAL)
    assert StaticFigures.LABEL_NAMES[CORTICAL] == "cortical bone"


@pytest.mark.django_db
def test_no_label_file_is_left_when_its_record_fails(world, monkeypatch):
    volume = land_volume(world.session, plates())
    job = jobs.start_analysis(volume, "morphometry", parameters=WHOLE)

    def refuse(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(am.MorphometryResult.objects, "create", refuse)
    assert jobs.run_analysis(job.pk) == JobState.FAILED
    written = absolute(volume.relative_path).parent / f"analysis-{job.pk}.segmentation.h5"
    assert not written.exists()
    assert not Volume.objects.filter(kind=VolumeKind.SEGMENTATION).exists()
    assert "database went away" in am.AnalysisJob.objects.get(pk=job.pk).error


@pytest.mark.django_db
def test_a_file_left_by_a_dead_worker_is_replaced_and_a_recorded_one_kept(world):
    """A worker killed between writing its file and recording it leaves the file behind;
    the job, claimed again, writes it anew (volume files are otherwise never replaced)."""
    volume = land_volume(world.session, plates())
    job = jobs.start_analysis(volume, "morphometry", parameters=WHOLE)
    orphan = absolute(volume.relative_path).parent / f"analysis-{job.pk}.segmentation.h5"
    orphan.write_bytes(b"half a file")
    assert jobs.run_analysis(job.pk) == JobState.DONE
    labels = am.MorphometryResult.objects.get(job=job).label_volume
    assert sha256_of(orphan) == labels.sha256 and read_metadata(orphan).grey is False

    recorded = jobs._output_path(job, volume, "segmentation")  # the record exists now
    assert recorded == Path(labels.relative_path) and orphan.exists()


@pytest.mark.django_db
def test_label_slices_are_served_to_members_only(world):
    grey = plates()
    volume = land_volume(world.session, grey)
    job = jobs.start_analysis(volume, "morphometry", parameters=WHOLE)
    assert jobs.run_analysis(job.pk) == JobState.DONE
    labels = job.morphometry.label_volume
    url = reverse("viewer:label", args=[labels.pk, "segmentation"])

    response = world.client("viewer").get(url, {"axis": "z", "index": 5})
    assert response.status_code == 200
    assert response["X-Shape"] == "30,40" and response["X-Dtype"] == "uint8"
    served = np.frombuffer(response.content, np.uint8).reshape(30, 40)
    # Plates at x = 3–6, 13–16, …: trabecular bone there, marrow between.
    assert np.array_equal(served, np.where(grey[5] > 500, TRABECULAR, MARROW))
    assert served[0, 3:7].tolist() == [TRABECULAR] * 4 and served[0, 7] == MARROW
    assert response["Cache-Control"] == "private, max-age=31536000, immutable"
    again = world.client("viewer").get(
        url, {"axis": "z", "index": 5}, HTTP_IF_NONE_MATCH=response["ETag"]
    )
    assert again.status_code == 304
    assert world.client("outsider").get(url, {"axis": "z", "index": 5}).status_code == 404

    meta = world.client("viewer").get(reverse("viewer:metadata", args=[labels.pk])).json()
    assert meta["grey"] is False and meta["histogram"] is None
    classes = meta["labels"]["segmentation"]["classes"]
    assert [c["name"] for c in classes] == [
        "trabecular bone",
        "cortical bone",
        "marrow",
        "other bone",
    ]
