"""The analysis API: permissions, filters, CSV, re-runs and cohort statistics."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from scipy import stats

from analysis import models as am
from studies import models as sm

from .records import recorded_result, session_on_day


@pytest.fixture
def result(world):
    return recorded_result(world.session, bv_tv=0.25, tb_th_um=40.0)


@pytest.mark.django_db
def test_foreign_results_and_jobs_are_404(world, result):
    outsider = world.client("outsider")
    assert outsider.get(f"/api/v1/morphometry-results/{result.pk}/").status_code == 404
    assert outsider.get(f"/api/v1/analysis-jobs/{result.job_id}/").status_code == 404
    assert outsider.post(f"/api/v1/morphometry-results/{result.pk}/rerun/").status_code == 404
    assert outsider.get("/api/v1/morphometry-results/").json()["results"] == []
    body = world.client("viewer").get(f"/api/v1/morphometry-results/{result.pk}/").json()
    assert (body["bv_tv"], body["animal_label"], body["cohort"]) == (0.25, "M01", "OVX")
    assert (body["study"], body["study_day"], body["site"]) == (
        world.study.pk,
        7,
        "tibia-right-proximal",
    )
    assert body["simulator_truth"] is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "status"), [("viewer", 403), ("operator", 403), ("investigator", 202)]
)
def test_who_may_rerun_with_new_parameters(world, result, who, status):
    response = world.client(who).post(
        f"/api/v1/morphometry-results/{result.pk}/rerun/",
        {"parameters": {"segmentation": {"sigma_vox": 0.5}}},
        format="json",
    )
    assert response.status_code == status, response.content
    jobs = am.AnalysisJob.objects.order_by("id")
    if status == 202:
        new = jobs.last()
        assert response.json()["id"] == new.pk and new.state == "queued"
        assert new.volume_id == result.volume_id and new.requested_by == world.users[who]
        assert new.parameters["segmentation"]["sigma_vox"] == 0.5
        # The other settings come from the result being re-run.
        assert new.parameters["regions"] == result.parameters["regions"]
        assert am.MorphometryResult.objects.filter(pk=result.pk).exists()
    else:
        assert jobs.count() == 1


@pytest.mark.django_db
def test_rerun_with_bad_parameters_is_400(world, result):
    response = world.client("investigator").post(
        f"/api/v1/morphometry-results/{result.pk}/rerun/",
        {"parameters": {"segmentation": {"sigma_vox": -2}}},
        format="json",
    )
    assert response.status_code == 400 and "sigma_vox" in str(response.json())
    assert am.AnalysisJob.objects.count() == 1


@pytest.mark.django_db
def test_starting_and_cancelling_a_job_through_the_api(world, result):
    volume = result.volume
    viewer = world.client("viewer").post(
        "/api/v1/analysis-jobs/", {"kind": "morphometry", "volume": volume.pk}, format="json"
    )
    assert viewer.status_code == 403
    client = world.client("investigator")
    created = client.post(
        "/api/v1/analysis-jobs/", {"kind": "morphometry", "volume": volume.pk}, format="json"
    )
    assert created.status_code == 201, created.content
    job_id = created.json()["id"]
    assert created.json()["parameters"]["morphometry"] == {
        "subvoxel": True,
        "surface_sigma_vox": 0.8,
    }
    no_baseline = client.post(
        "/api/v1/analysis-jobs/", {"kind": "remodelling", "volume": volume.pk}, format="json"
    )
    assert no_baseline.status_code == 400 and "no earlier session" in str(no_baseline.json())
    assert world.client("viewer").post(f"/api/v1/analysis-jobs/{job_id}/cancel/").status_code == 403
    cancelled = client.post(f"/api/v1/analysis-jobs/{job_id}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert client.post(f"/api/v1/analysis-jobs/{job_id}/cancel/").status_code == 400


@pytest.fixture
def cohorts(world):
    """OVX (the world's M01 + 2) and Sham (control, 3 animals), scanned on days 0 and 28.

    BV/TV: Sham stays near 0.30; OVX starts there and loses about a third.
    """
    sham = sm.Cohort.objects.create(study=world.study, name="Sham", is_control=True)
    values = {
        ("OVX", 0): [0.30, 0.31, 0.29], ("OVX", 28): [0.20, 0.22, 0.19],
        ("Sham", 0): [0.30, 0.29, 0.31], ("Sham", 28): [0.31, 0.28, 0.30],
    }  # fmt: skip
    animals = {"OVX": [world.animal], "Sham": []}
    for i in range(2):
        animals["OVX"].append(
            sm.Animal.objects.create(
                study=world.study, cohort=world.cohort, label=f"O{i}", sex="female"
            )
        )
    for i in range(3):
        animals["Sham"].append(
            sm.Animal.objects.create(study=world.study, cohort=sham, label=f"S{i}", sex="female")
        )
    world.session.delete()
    for (cohort, day), numbers in values.items():
        for animal, value in zip(animals[cohort], numbers, strict=True):
            recorded_result(session_on_day(animal, day), bv_tv=value)
    return values


@pytest.mark.django_db
def test_result_lists_filter_by_cohort_day_site_and_export_csv(world, cohorts):
    client = world.client("viewer")
    url = "/api/v1/morphometry-results/"
    assert client.get(url, {"study": world.study.pk}).json()["count"] == 12
    ovx_day28 = client.get(url, {"cohort": world.cohort.pk, "study_day": 28}).json()["results"]
    assert sorted(r["bv_tv"] for r in ovx_day28) == [0.19, 0.20, 0.22]
    assert client.get(url, {"study_day_range_min": 1}).json()["count"] == 6
    assert client.get(url, {"site": "L5-vertebra"}).json()["count"] == 0
    animal = sm.Animal.objects.get(label="S0")
    assert client.get(url, {"animal": animal.pk}).json()["count"] == 2
    one = am.MorphometryResult.objects.get(volume__session__animal=animal, study_day=28)
    assert [r["id"] for r in client.get(url, {"job": one.job_id}).json()["results"]] == [one.pk]

    # A re-run's newer result replaces the older one in ?latest=true.
    older = am.MorphometryResult.objects.get(volume__session__animal=animal, study_day=0)
    newer = recorded_result(older.volume.session, bv_tv=0.5)
    am.MorphometryResult.objects.filter(pk=newer.pk).update(volume=older.volume)
    latest = client.get(url, {"animal": animal.pk, "latest": "true"}).json()["results"]
    assert sorted(r["bv_tv"] for r in latest) == [0.31, 0.5]  # day 28 kept, day 0 replaced

    response = client.get(url, {"cohort": world.cohort.pk, "study_day": 0, "format": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 3 and {"bv_tv", "tb_th_um", "animal_label", "cohort", "study_day"} <= set(
        rows[0]
    )
    assert sorted(float(r["bv_tv"]) for r in rows) == [0.29, 0.30, 0.31]


@pytest.mark.django_db
def test_cohort_statistics_per_cohort_and_day(world, cohorts):
    client = world.client("viewer")
    query = {"study": world.study.pk, "parameter": "bv_tv"}
    body = client.get("/api/v1/cohort-statistics/", query).json()
    assert body["label"] == "BV/TV" and body["n_measurements"] == 12
    summary = {(r["cohort"], r["day"]): r for r in body["summary"]}
    ovx = np.array(cohorts[("OVX", 28)])
    row = summary[("OVX", 28.0)]
    assert row["n"] == 3
    assert row["mean"] == pytest.approx(ovx.mean())
    assert row["sd"] == pytest.approx(ovx.std(ddof=1))
    assert row["sem"] == pytest.approx(ovx.std(ddof=1) / np.sqrt(3))

    pair = next(r for r in body["pairwise"] if r["day"] == 28.0)
    welch = stats.ttest_ind(ovx, cohorts[("Sham", 28)], equal_var=False)
    assert (pair["cohort_a"], pair["cohort_b"]) == ("OVX", "Sham")
    assert pair["p"] == pytest.approx(welch.pvalue, rel=1e-6)
    assert pair["hedges_g"] < -2  # OVX far below Sham

    change = {(r["cohort"], r["day"], r["measure"]): r for r in body["change"]}
    loss = 100 * (ovx - np.array(cohorts[("OVX", 0)])) / np.array(cohorts[("OVX", 0)])
    assert change[("OVX", 28.0, "change_pct")]["mean"] == pytest.approx(loss.mean())
    assert change[("Sham", 0.0, "change")]["mean"] == 0.0

    # The control cohort is the mixed model's reference: OVX × day is the loss per day.
    assert body["mixed_fit"][0]["reference"] == "Sham"
    slope = next(r for r in body["mixed_coefficients"] if r["term"] == "cohort[T.OVX]:day")
    mean = {key: np.mean(v) for key, v in cohorts.items()}
    # Balanced design: the fixed effects equal the cell means' contrasts.
    expected = ((mean["OVX", 28] - mean["OVX", 0]) - (mean["Sham", 28] - mean["Sham", 0])) / 28
    assert slope["estimate"] == pytest.approx(expected, rel=1e-4)

    csv_body = client.get(
        "/api/v1/cohort-statistics/", {**query, "format": "csv", "table": "pairwise"}
    )
    header = csv_body.content.decode().splitlines()[0].split(",")
    assert header[:4] == ["parameter", "day", "cohort_a", "cohort_b"] and "p_holm" in header


@pytest.mark.django_db
def test_cohort_statistics_refuse_unknown_parameters_and_foreign_studies(world, cohorts):
    client = world.client("viewer")
    bad = client.get("/api/v1/cohort-statistics/", {"study": world.study.pk, "parameter": "bmi"})
    assert bad.status_code == 400 and "parameter" in bad.json()
    foreign = world.client("outsider").get("/api/v1/cohort-statistics/", {"study": world.study.pk})
    assert foreign.status_code == 404
    dynamic = client.get(
        "/api/v1/cohort-statistics/", {"study": world.study.pk, "parameter": "bfr_bv_pct_per_day"}
    )
    assert dynamic.status_code == 200, dynamic.content
    assert dynamic.json()["label"] == "BFR/BV (%/day)"
    assert dynamic.json()["n_measurements"] == 0 and dynamic.json()["summary"] == []


@pytest.mark.django_db
def test_cohort_statistics_need_a_site_when_results_come_from_several(world, cohorts):
    recorded_result(session_on_day(world.animal, 14, site="L5-vertebra"), bv_tv=0.4)
    client = world.client("viewer")
    query = {"study": world.study.pk, "parameter": "bv_tv"}
    response = client.get("/api/v1/cohort-statistics/", query)
    assert response.status_code == 400 and "L5-vertebra" in str(response.json()["site"])
    tibia = client.get("/api/v1/cohort-statistics/", {**query, "site": "tibia-right-proximal"})
    assert tibia.json()["n_measurements"] == 12
