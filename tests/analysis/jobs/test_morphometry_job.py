"""Morphometry jobs run in-process on small synthetic volumes with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import jobs, measurement
from analysis import models as am
from analysis.segmentation import separate_compartments
from studies.vocabulary import JobState, SessionState

from .records import PERIOD_VOX, PLATE_VOX, VOXEL_UM, attach_truth, land_volume, plates

EXACT = {"segmentation": {"sigma_vox": 0.0, "threshold_mgha_cm3": 500.0}}
WHOLE = {**EXACT, "regions": {"compartments": "none"}}


@pytest.mark.django_db
def test_plates_give_their_bv_tv_thickness_and_spacing(world):
    volume = land_volume(world.session, plates())
    job = jobs.start_analysis(volume, "morphometry", parameters=WHOLE)
    assert jobs.run_analysis(job.pk) == JobState.DONE

    result = am.MorphometryResult.objects.get(job=job)
    assert result.bv_tv == pytest.approx(PLATE_VOX / PERIOD_VOX, abs=1e-12)  # exact
    assert result.tb_th_um == pytest.approx(PLATE_VOX * VOXEL_UM, rel=0.01)
    assert result.tb_sp_um == pytest.approx((PERIOD_VOX - PLATE_VOX) * VOXEL_UM, rel=0.01)
    assert result.tb_n_per_mm == pytest.approx(1000.0 / (PERIOD_VOX * VOXEL_UM), rel=0.01)
    assert result.tmd_mgha_cm3 == pytest.approx(1000.0)
    assert result.bmd_mgha_cm3 == pytest.approx(400.0)
    assert result.ct_th_um is None  # compartments off: no cortical figures
    assert result.trabecular_voi == measurement.WHOLE_REGION
    assert (result.threshold, result.threshold_method) == (500.0, "fixed")
    assert result.volume_sha256 == volume.sha256
    assert result.study_day == 7
    assert result.parameters["regions"]["compartments"] == "none"
    job.refresh_from_db()
    assert job.progress == 1.0 and set(job.timings) == {"read_s", "measure_s", "write_s"}
    world.session.refresh_from_db()
    assert world.session.state == SessionState.ANALYSED


@pytest.mark.django_db
def test_automatic_compartments_without_cortex_use_the_whole_volume(world):
    volume = land_volume(world.session, plates())
    job = jobs.start_analysis(volume, "morphometry", parameters=EXACT)
    assert jobs.run_analysis(job.pk) == JobState.DONE
    result = job.morphometry
    # The 4-voxel plates are thinner than the opening disk: no cortex is found.
    assert result.trabecular_voi == measurement.NO_CORTEX
    assert result.bv_tv == pytest.approx(0.4, abs=1e-12)


@pytest.mark.django_db
def test_cortical_shell_gives_its_areas_and_thickness(world):
    nz, n = 8, 48
    y, x = np.mgrid[:n, :n] - (n - 1) / 2
    r = np.hypot(x, y)
    shell = (r <= 20) & (r > 12)  # an 8-voxel-thick cortex
    septa = (np.abs(x) < 1) & (r <= 12)  # a 2-voxel septum across the marrow
    grey = np.broadcast_to(np.where(shell | septa, 1000.0, 0.0), (nz, n, n)).astype(np.float32)
    volume = land_volume(world.session, grey)
    job = jobs.start_analysis(volume, "morphometry", parameters=EXACT)
    assert jobs.run_analysis(job.pk) == JobState.DONE, job.error
    result = job.morphometry

    pixel_mm2 = (VOXEL_UM / 1000) ** 2
    assert result.trabecular_voi == measurement.MEDULLARY
    assert result.tt_ar_mm2 == pytest.approx(np.count_nonzero(r <= 20) * pixel_mm2, rel=0.02)
    assert result.ma_ar_mm2 == pytest.approx(np.count_nonzero(r <= 12) * pixel_mm2, rel=0.03)
    assert result.ct_th_um == pytest.approx(8 * VOXEL_UM, rel=0.05)
    # The trabecular VOI is the medullary compartment the core separates.
    bone = grey > 500
    medulla = separate_compartments(bone).trabecular
    assert result.bv_tv == pytest.approx(np.count_nonzero(bone & medulla) / medulla.sum())
    assert result.bv_tv == pytest.approx(
        np.count_nonzero(septa) / np.count_nonzero(r <= 12), rel=0.1
    )


@pytest.mark.django_db
def test_a_redelivered_task_does_nothing_twice(world):
    volume = land_volume(world.session, plates())
    job = jobs.start_analysis(volume, "morphometry", parameters=WHOLE)
    assert jobs.run_analysis(job.pk) == JobState.DONE
    finished = am.AnalysisJob.objects.get(pk=job.pk).finished_at
    assert jobs.run_analysis(job.pk) == JobState.DONE  # the same message again
    assert am.MorphometryResult.objects.count() == 1
    assert am.AnalysisJob.objects.get(pk=job.pk).finished_at == finished


@pytest.mark.django_db
def test_rerun_with_new_parameters_keeps_the_earlier_result(world):
    volume = land_volume(world.session, plates())
    first = jobs.start_analysis(volume, "morphometry", parameters=WHOLE)
    jobs.run_analysis(first.pk)
    thicker = {**WHOLE, "segmentation": {"sigma_vox": 0.0, "threshold_mgha_cm3": -1.0}}
    second = jobs.start_analysis(volume, "morphometry", parameters=thicker)
    # Everything is bone at a negative threshold: no marrow, the job fails with the reason.
    assert jobs.run_analysis(second.pk) == JobState.FAILED
    second.refresh_from_db()
    assert "bone and marrow" in second.error
    assert list(am.MorphometryResult.objects.values_list("job", flat=True)) == [first.pk]


@pytest.mark.django_db
def test_cancelled_job_is_not_run_and_finished_job_cannot_be_cancelled(world):
    volume = land_volume(world.session, plates())
    job = jobs.start_analysis(volume, "morphometry")
    job.cancel()
    assert jobs.run_analysis(job.pk) == JobState.CANCELLED
    assert not am.MorphometryResult.objects.exists()
    with pytest.raises(ValueError, match="already finished"):
        am.AnalysisJob.objects.get(pk=job.pk).cancel()
    world.session.refresh_from_db()
    assert world.session.state == SessionState.RECONSTRUCTED


@pytest.mark.django_db
def test_fixed_threshold_on_an_uncalibrated_volume_fails_with_the_reason(world):
    volume = land_volume(world.session, plates() / 1000.0, units="1/cm")
    job = jobs.start_analysis(volume, "morphometry", parameters=WHOLE)
    assert jobs.run_analysis(job.pk) == JobState.FAILED
    job.refresh_from_db()
    assert "threshold_mgha_cm3 needs a calibrated volume" in job.error
    # Otsu's threshold works on attenuation values; no densities without calibration.
    otsu = jobs.start_analysis(
        volume, "morphometry", parameters={"regions": {"compartments": "none"}}
    )
    assert jobs.run_analysis(otsu.pk) == JobState.DONE
    assert otsu.morphometry.threshold_method == "otsu" and otsu.morphometry.tmd_mgha_cm3 is None


@pytest.mark.django_db
def test_a_calibrated_volume_is_segmented_at_the_bone_threshold_unless_asked(world):
    """Without a threshold a calibrated volume gets 500 mgHA/cm³; an explicit null, Otsu."""
    volume = land_volume(world.session, plates())
    default = jobs.start_analysis(
        volume, "morphometry", parameters={"segmentation": {"sigma_vox": 0.5}}
    )
    assert default.parameters["segmentation"] == {
        "sigma_vox": 0.5, "truncate": 3.0, "threshold_mgha_cm3": 500.0,
    }  # fmt: skip
    asked = jobs.start_analysis(
        volume, "morphometry", parameters={"segmentation": {"threshold_mgha_cm3": None}}
    )
    assert asked.parameters["segmentation"]["threshold_mgha_cm3"] is None
    uncalibrated = land_volume(world.session, plates() / 1000.0, units="1/cm", name="raw")
    assert (
        jobs.start_analysis(uncalibrated, "morphometry").parameters["segmentation"][
            "threshold_mgha_cm3"
        ]
        is None
    )


@pytest.mark.django_db
def test_phantom_truth_is_stored_beside_the_measurement(world):
    volume = land_volume(world.session, plates())
    relative = attach_truth(volume, day=7, previous_day=None, bv_tv=0.41)
    job = jobs.start_analysis(volume, "morphometry", parameters=WHOLE)
    assert jobs.run_analysis(job.pk) == JobState.DONE
    result = job.morphometry
    assert (result.truth_bv_tv, result.truth_relative_path) == (0.41, relative)
    assert result.bv_tv == pytest.approx(0.4, abs=1e-12)
    body = world.client("viewer").get(f"/api/v1/morphometry-results/{result.pk}/").json()
    assert body["simulator_truth"] == {"bv_tv": 0.41, "file": relative}


@pytest.mark.django_db
def test_a_slab_region_is_the_total_volume(world):
    volume = land_volume(world.session, plates())
    slab = {**WHOLE, "regions": {"compartments": "none", "slab": [4, 20]}}
    job = jobs.start_analysis(volume, "morphometry", parameters=slab)
    assert jobs.run_analysis(job.pk) == JobState.DONE
    voxel_mm3 = (VOXEL_UM / 1000) ** 3
    assert job.morphometry.tv_mm3 == pytest.approx(16 * 30 * 40 * voxel_mm3)
    assert job.morphometry.bv_tv == pytest.approx(0.4, abs=1e-12)

    outside = {**WHOLE, "regions": {"compartments": "none", "slab": [4, 99]}}
    job = jobs.start_analysis(volume, "morphometry", parameters=outside)
    assert jobs.run_analysis(job.pk) == JobState.FAILED
    job.refresh_from_db()
    assert "parameters.regions.slab" in job.error
