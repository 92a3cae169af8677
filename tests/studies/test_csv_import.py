"""CSV import of animals: all rows or none, with an error per line."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from studies import models as m

from .conftest import World


def _upload(world: World, who: str, text: str):
    upload = SimpleUploadedFile("animals.csv", text.encode(), content_type="text/csv")
    return world.client(who).post(
        "/api/v1/animals/import/", {"study": world.study.pk, "file": upload}, format="multipart"
    )


def test_good_file_imports_every_row(world: World):
    text = (
        "label,cohort,sex,strain,date_of_birth,cage\n"
        "N01,OVX,female,C57BL/6J,2025-10-01,C1\n"
        "N02,OVX,female,C57BL/6J,2025-10-01,C1\n"
    )
    response = _upload(world, "investigator", text)
    assert response.status_code == 201, response.content
    assert [row["label"] for row in response.json()] == ["N01", "N02"]
    assert m.Animal.objects.get(label="N02").cohort == world.cohort
    assert m.AuditEvent.objects.filter(model="studies.animal", action="create").count() >= 3


def test_one_bad_row_imports_nothing_and_names_each_error(world: World):
    text = (
        "label,cohort,sex,date_of_birth\n"
        "N01,OVX,female,2025-10-01\n"
        "M01,OVX,female,2025-10-01\n"  # label already in the study
        "N03,Nope,female,2025-10-01\n"  # unknown cohort
        "N04,OVX,robot,2025-10-01\n"  # sex outside the vocabulary
        "N01,OVX,female,2025-10-01\n"  # repeats line 2
    )
    before = m.Animal.objects.count()
    response = _upload(world, "investigator", text)
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "Nothing was imported."
    by_line = {row["line"]: row["errors"] for row in body["rows"]}
    assert set(by_line) == {3, 4, 5, 6}
    assert "sex" in by_line[5] and "cohort" in by_line[4]
    assert "Duplicate of line 2" in " ".join(by_line[6]["label"])
    assert m.Animal.objects.count() == before


def test_unknown_column_is_rejected(world: World):
    response = _upload(world, "investigator", "label,sex,favourite_colour\nN1,male,blue\n")
    assert response.status_code == 400
    assert "favourite_colour" in response.json()["file"][0]


def test_viewer_cannot_import(world: World):
    response = _upload(world, "viewer", "label,sex\nN1,male\n")
    assert response.status_code == 403
    assert not m.Animal.objects.filter(label="N1").exists()
