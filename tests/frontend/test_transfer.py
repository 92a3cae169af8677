"""Import & export: CSV import all-or-nothing with per-line errors, CSV lists, study export."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from studies import models as m


def upload(text: str) -> dict:
    return {"file": SimpleUploadedFile("animals.csv", text.encode(), content_type="text/csv")}


def data_url(world):
    return reverse("frontend:study-data", args=[world.study.pk])


def test_a_good_file_imports_every_row_with_cohorts_by_name(world, pages):
    csv = "label,sex,cohort,date_of_birth\nM10,female,OVX,2025-10-01\nM11,female,,2025-10-02\n"
    response = pages("investigator").post(data_url(world), upload(csv))
    assert response.status_code == 302
    created = m.Animal.objects.filter(study=world.study, label__in=["M10", "M11"])
    assert {(a.label, a.cohort_id) for a in created} == {("M10", world.cohort.pk), ("M11", None)}
    events = m.AuditEvent.objects.filter(
        model="studies.animal", object_id__in=[str(a.pk) for a in created]
    )
    assert sorted(events.values_list("source", flat=True)) == ["page", "page"]


def test_one_bad_row_imports_nothing_and_names_its_line(world, pages):
    csv = "label,sex\nM10,female\nM11,hermaphrodite\nM10,female\n"
    response = pages("investigator").post(data_url(world), upload(csv))
    assert response.status_code == 200
    errors = {row["line"]: row["errors"] for row in response.context["import_errors"]}
    assert set(errors) == {3, 4}
    assert "sex" in errors[3]
    assert errors[4]["label"] == ["Duplicate of line 2 in this file."]
    html = response.content.decode()
    assert 'id="import-errors"' in html and "Duplicate of line 2 in this file." in html
    assert not m.Animal.objects.filter(label__in=["M10", "M11"]).exists()


def test_a_file_with_unknown_columns_is_refused_on_the_file_field(world, pages):
    response = pages("investigator").post(
        data_url(world), upload("label,sex,colour\nM10,female,red\n")
    )
    assert response.context["form"].errors["file"] == ["Unknown columns: colour."]


def test_the_data_page_links_the_api_csv_lists_of_this_study(world, pages):
    html = pages("viewer").get(data_url(world)).content.decode()
    assert f"/api/v1/animals/?study={world.study.pk}&amp;format=csv" in html
    assert f"/api/v1/scan-sessions/?study={world.study.pk}&amp;format=csv" in html
    assert 'type="file"' not in html  # viewers do not import


def test_any_member_starts_a_study_export(world, pages, django_capture_on_commit_callbacks):
    url = reverse("frontend:export-new", args=[world.study.pk])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = pages("viewer").post(url)
    export = m.StudyExport.objects.get(study=world.study)
    assert response.url == data_url(world)
    assert export.requested_by == world.users["viewer"]
    assert export.state == "queued"
    assert len(callbacks) == 1  # the task is sent once the record is committed


@pytest.mark.django_db(transaction=True)  # autocommit: the task is sent inside the request
def test_an_unreachable_broker_fails_the_export_not_the_page(world, pages, monkeypatch):
    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("no broker")

    monkeypatch.setattr("frontend.views.transfer.export_study.delay", refuse)
    url = reverse("frontend:export-new", args=[world.study.pk])
    response = pages("viewer").post(url, follow=True)
    export = m.StudyExport.objects.get(study=world.study)
    assert export.state == "failed"
    assert "ConnectionRefusedError: no broker" in export.error
    assert "The export could not start" in response.content.decode()


def test_a_finished_export_offers_its_download(world, pages):
    m.StudyExport.objects.create(
        study=world.study, requested_by=world.users["owner"], state="done", size_bytes=2048
    )
    export = m.StudyExport.objects.get()
    html = pages("viewer").get(data_url(world)).content.decode()
    assert reverse("studyexport-download", args=[export.pk]) in html
