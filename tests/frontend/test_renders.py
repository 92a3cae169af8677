"""Bone-surface meshes and renders: analytic areas, file formats, pictures, and who may see them.

The numeric tests mesh digital phantoms whose surface area is known (a ball, a cylinder
cut by the volume border); the page tests write a small volume file under the data root
and read its thumbnail, meshes and strip through the pages (another study's volume: 404).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image

from analysis.remodelling.labels import FORMED, QUIESCENT, RESORBED
from frontend import renders
from frontend import tasks as render_tasks
from recon.models import Volume
from studies import models as m
from studies.datafiles import absolute
from tests.viewer.conftest import VOXEL_UM, make_volume

N = 40
RADIUS_VOX = 13.0


def ball(n: int = N, radius: float = RADIUS_VOX, value: float = 1000.0) -> np.ndarray:
    """A ball of ``radius`` voxels at the grid centre, partial-volume edges (float32)."""
    z, y, x = np.mgrid[:n, :n, :n]
    c = (n - 1) / 2
    distance = np.sqrt((x - c) ** 2 + (y - c) ** 2 + (z - c) ** 2)
    return (np.clip(radius + 0.5 - distance, 0, 1) * value).astype(np.float32)


def half_formed_labels(n: int = N, radius: float = RADIUS_VOX) -> np.ndarray:
    """Quiescent where x < centre, formed where x > centre (inside the ball)."""
    z, y, x = np.mgrid[:n, :n, :n]
    c = (n - 1) / 2
    inside = (x - c) ** 2 + (y - c) ** 2 + (z - c) ** 2 <= (radius + 1) ** 2
    labels = np.zeros((n, n, n), np.uint8)
    labels[inside] = QUIESCENT
    labels[inside & (x > c)] = FORMED
    return labels


# -- the mesh ---------------------------------------------------------------------------


def test_a_ball_has_the_analytic_area_within_three_percent():
    surface = renders.bone_surface(ball(), VOXEL_UM)
    expected = 4 * np.pi * (RADIUS_VOX * VOXEL_UM) ** 2
    assert renders.mesh_area_um2(surface.mesh) == pytest.approx(expected, rel=0.03)
    assert surface.method == "otsu"
    # Centred on the volume's centre (docs/conventions.md), in µm.
    assert np.abs(np.asarray(surface.mesh.points).mean(axis=0)).max() < 0.05 * RADIUS_VOX * VOXEL_UM
    half = (N - 1) / 2 * VOXEL_UM
    assert surface.box_um == pytest.approx((-half, half) * 3)


def test_decimation_removes_triangles_but_keeps_the_area():
    full = renders.bone_surface(ball(), VOXEL_UM, target_reduction=0.0)
    light = renders.bone_surface(ball(), VOXEL_UM, target_reduction=0.75)
    assert light.mesh.n_cells < 0.35 * full.mesh.n_cells
    assert renders.mesh_area_um2(light.mesh) == pytest.approx(
        renders.mesh_area_um2(full.mesh), rel=0.02
    )


def test_a_shaft_cut_by_the_border_is_closed_with_caps_of_the_analytic_area():
    n, radius = 32, 9.0
    z, y, x = np.mgrid[:n, :n, :n]
    c = (n - 1) / 2
    rod = (np.clip(radius + 0.5 - np.hypot(x - c, y - c), 0, 1) * 900).astype(np.float32)
    surface = renders.bone_surface(rod, 5.0, threshold=450.0)
    assert surface.method == "fixed"
    assert surface.mesh.n_open_edges == 0  # watertight: printable
    r_um, length_um = radius * 5.0, n * 5.0
    expected = 2 * np.pi * r_um * length_um + 2 * np.pi * r_um**2
    assert renders.mesh_area_um2(surface.mesh) == pytest.approx(expected, rel=0.04)


def test_vertices_take_the_remodelling_class_of_the_nearest_labelled_voxel():
    surface = renders.bone_surface(ball(), VOXEL_UM, labels=half_formed_labels())
    classes = surface.mesh.point_data["remodelling"]
    x = np.asarray(surface.mesh.points)[:, 0]
    far = 2 * VOXEL_UM
    assert (classes[x > far] == FORMED).mean() > 0.95
    assert (classes[x < -far] == QUIESCENT).mean() > 0.95
    colours = surface.mesh.point_data["colors"]
    assert tuple(colours[classes == FORMED][0]) == renders.CLASS_COLOURS[FORMED]
    assert surface.has_classes


def test_an_empty_volume_has_no_surface_and_bad_arguments_are_named():
    with pytest.raises(renders.NoSurface):
        renders.bone_surface(np.zeros((8, 8, 8), np.float32), 1.0)
    with pytest.raises(ValueError, match="target_reduction"):
        renders.bone_surface(ball(), 1.0, target_reduction=1.0)
    with pytest.raises(ValueError, match="labels"):
        renders.bone_surface(ball(), 1.0, labels=np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="voxel_size_um"):
        renders.bone_surface(ball(), -1.0)
    with pytest.raises(ValueError, match="fmt"):
        renders.encode_mesh(renders.bone_surface(ball(), 1.0).mesh, "obj")


def test_the_level_chosen_is_the_finest_within_the_size():
    shapes = [(512, 512, 400), (256, 256, 200), (128, 128, 100), (64, 64, 50)]
    assert renders.choose_level(shapes, 128) == 2
    assert renders.choose_level(shapes, 1024) == 0
    assert renders.choose_level(shapes, 16) == 3  # none fits: the coarsest


# -- files and pictures -----------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["stl", "ply", "vtp"])
def test_mesh_files_parse_back_to_the_same_surface(fmt):
    surface = renders.bone_surface(ball(), VOXEL_UM, labels=half_formed_labels())
    data = renders.encode_mesh(surface.mesh, fmt)
    parsed = renders.read_mesh(data, fmt)
    assert parsed.n_cells == surface.mesh.n_cells
    assert renders.mesh_area_um2(parsed) == pytest.approx(
        renders.mesh_area_um2(surface.mesh), rel=1e-5
    )
    if fmt == "ply":
        assert parsed.point_data["RGB"].shape == (surface.mesh.n_points, 3)
    if fmt == "vtp":
        assert np.array_equal(
            parsed.point_data["remodelling"], surface.mesh.point_data["remodelling"]
        )


def _image(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_the_render_is_not_blank_and_shows_the_formed_class_colour():
    surface = renders.bone_surface(ball(), VOXEL_UM, labels=half_formed_labels())
    image = _image(renders.render_png(surface, size=(320, 240)))
    assert image.shape == (240, 320, 3)
    background = image[2, -3]  # a corner away from the caption
    drawn = np.any(np.abs(image.astype(int) - background) > 12, axis=-1)
    assert 0.05 < drawn.mean() < 0.9
    orange = (image[..., 0] > 170) & (image[..., 1] > 80) & (image[..., 2] < 90)
    assert orange.sum() > 200  # formed bone, lit


def test_a_strip_has_one_panel_per_time_point_drawn_at_the_same_scale():
    small = renders.bone_surface(ball(radius=8.0), VOXEL_UM)
    large = renders.bone_surface(ball(radius=14.0), VOXEL_UM)
    panels = [
        renders.Panel(small, "day 0"),
        renders.Panel(large, "day 28"),
        renders.Panel(None, ""),
    ]
    image = _image(renders.render_strip(panels, tile=(160, 160)))
    assert image.shape == (160, 480, 3)
    background = image[-2, -2]
    drawn = [np.any(np.abs(image[:, i * 160 : (i + 1) * 160].astype(int) - background) > 12, -1)
             for i in range(3)]  # fmt: skip
    assert drawn[1].sum() > 2 * drawn[0].sum()  # the larger ball looks larger
    assert drawn[2].sum() == 0  # nothing to draw, no caption


# -- through the pages --------------------------------------------------------------------


def _volume(session: m.ScanSession, name: str, volume: np.ndarray, labels=None) -> Volume:
    """A volume file and its record, made without the signals of a landing volume."""
    return make_volume(session, name, volume, labels=labels)


def _landed(session: m.ScanSession, name: str, volume: np.ndarray) -> Volume:
    """A volume file recorded as a reconstruction records it (``post_save`` fires)."""
    made = _volume(session, name, volume)
    fields = {
        f.attname: getattr(made, f.attname)
        for f in Volume._meta.concrete_fields
        if not f.primary_key and f.name != "created_at"
    }
    made.delete()
    return Volume.objects.create(**fields)


@pytest.fixture
def volumes(world):
    """Two time points of animal M01 at one site (the second with remodelling labels)."""
    later = m.ScanSession.objects.create(
        animal=world.animal,
        site=world.session.site,
        planned_at=world.study.datetime_of_day(21, dt.time(10)),
    )
    first = _volume(world.session, "v1", ball(radius=10.0))
    second = _volume(later, "v2", ball(), labels={"remodelling": half_formed_labels()})
    return first, second


def _url(name: str, world, *args) -> str:
    return reverse(f"frontend:{name}", args=[world.study.pk, *args])


def test_the_thumbnail_appears_once_rendered_and_members_only_see_it(world, pages, volumes):
    _, volume = volumes
    url = _url("volume-thumbnail", world, volume.pk)
    assert pages("viewer").get(url).status_code == 404  # not drawn yet
    render_tasks.write_volume_renders(volume)
    response = pages("viewer").get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    image = _image(b"".join(response.streaming_content))
    assert image.shape == (*render_tasks.THUMBNAIL_SIZE[::-1], 3)
    assert image.std() > 10
    assert pages("outsider").get(url).status_code == 404  # another study's member


def test_another_studys_volume_is_404_through_this_studys_urls(world, pages, volumes):
    other_session = m.ScanSession.objects.create(
        animal=world.other_animal,
        site="L5-vertebra",
        planned_at=world.other_study.datetime_of_day(7, dt.time(9)),
    )
    foreign = _volume(other_session, "foreign", ball())
    render_tasks.write_volume_renders(foreign)
    for name, extra in [("volume-thumbnail", ()), ("volume-mesh", ("stl",))]:
        assert pages("owner").get(_url(name, world, foreign.pk, *extra)).status_code == 404
    own = reverse("frontend:volume-thumbnail", args=[world.other_study.pk, foreign.pk])
    assert pages("outsider").get(own).status_code == 200
    assert pages("owner").get(own).status_code == 404


@pytest.mark.parametrize("fmt", ["stl", "ply", "vtp"])
def test_mesh_downloads_parse_and_are_named_for_the_time_point(world, pages, volumes, fmt):
    _, volume = volumes
    response = pages("viewer").get(_url("volume-mesh", world, volume.pk, fmt))
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        f'attachment; filename="M01-tibia-right-proximal-day21-volume{volume.pk}.{fmt}"'
    )
    mesh = renders.read_mesh(response.content, fmt)
    expected = 4 * np.pi * (RADIUS_VOX * VOXEL_UM) ** 2
    assert renders.mesh_area_um2(mesh) == pytest.approx(expected, rel=0.03)
    # The mesh made for the download is kept (with the thumbnail) for the next one.
    assert absolute(render_tasks.surface_path(volume)).exists()
    assert pages("viewer").get(_url("volume-mesh", world, volume.pk, "obj")).status_code == 404


def test_the_animal_strip_shows_each_time_point(world, pages, volumes):
    relative = render_tasks.write_animal_strip(world.animal, world.session.site)
    url = _url("animal-strip", world, world.animal.pk, world.session.site)
    response = pages("viewer").get(url)
    assert response.status_code == 200
    image = _image(b"".join(response.streaming_content))
    width, height = render_tasks.STRIP_TILE
    assert image.shape == (height, 2 * width, 3)
    assert relative == render_tasks.strip_path(world.animal, world.session.site, list(volumes))
    page = pages("viewer").get(_url("animal-detail", world, world.animal.pk)).content.decode()
    assert url in page
    assert pages("outsider").get(url).status_code == 404
    assert (
        pages("viewer").get(_url("animal-strip", world, world.animal.pk, "nose")).status_code == 404
    )


def test_the_session_page_links_the_viewer_and_the_downloads(world, pages, volumes):
    first, _ = volumes
    render_tasks.write_volume_renders(first)
    html = pages("viewer").get(_url("session-detail", world, world.session.pk)).content.decode()
    assert f'href="/volumes/{first.pk}/view/"' in html
    assert reverse("viewer:page", args=[first.pk]) == f"/volumes/{first.pk}/view/"
    assert _url("volume-thumbnail", world, first.pk) in html
    for fmt in ("stl", "ply", "vtp"):
        assert _url("volume-mesh", world, first.pk, fmt) in html
    assert "Render again" not in html  # drawn already, and a viewer may not anyway


def test_only_operators_queue_renders_again(world, pages, volumes, monkeypatch):
    _, volume = volumes
    sent = []
    monkeypatch.setattr(render_tasks.render_volume, "delay", lambda pk: sent.append(pk))
    url = _url("volume-render", world, volume.pk)
    assert pages("viewer").post(url).status_code == 403
    assert pages("outsider").post(url).status_code == 404
    response = pages("operator").post(url)
    assert response.status_code == 302
    assert sent == [volume.pk]


def test_a_new_volume_queues_its_renders_when_the_transaction_commits(
    world, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(render_tasks.render_volume, "delay", lambda pk: sent.append(pk))
    with django_capture_on_commit_callbacks() as callbacks:
        volume = _landed(world.session, "landed", ball())
    assert sent == []  # nothing before the commit
    for callback in callbacks:  # other apps react to a new volume too; only ours matters here
        with contextlib.suppress(Exception):
            callback()
    assert sent == [volume.pk]


def test_the_render_task_draws_thumbnail_mesh_and_strip(world, pages, volumes):
    first, second = volumes
    assert render_tasks.render_volume(second.pk) == "rendered"
    for path in (render_tasks.thumbnail_path(second), render_tasks.surface_path(second)):
        assert absolute(path).stat().st_size > 1000
    strip = render_tasks.strip_path(world.animal, world.session.site, [first, second])
    assert absolute(strip).exists()
    assert render_tasks.render_volume(10**9) == "missing"
    empty = _volume(world.session, "empty", np.zeros((16, 16, 16), np.float32))
    assert render_tasks.render_volume(empty.pk) == "no surface"
    reason = absolute(render_tasks.no_surface_path(empty)).read_text()
    assert reason.startswith("volume: ")
    assert not absolute(render_tasks.thumbnail_path(empty)).exists()
    html = pages("viewer").get(_url("session-detail", world, world.session.pk)).content.decode()
    assert f"No bone surface to draw: {reason}" in html


def test_resorbed_code_is_coloured_apart_from_formed():
    assert renders.CLASS_COLOURS[RESORBED] != renders.CLASS_COLOURS[FORMED]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_landed_volume_is_rendered_by_the_worker(world, celery_worker):
    from tests.conftest import wait_until

    volume = _landed(world.session, "worker", ball(n=32, radius=10.0))
    thumbnail = absolute(render_tasks.thumbnail_path(volume))
    wait_until(thumbnail.exists, timeout_s=120, interval_s=0.5)
    image = _image(thumbnail.read_bytes())
    assert image.shape == (*render_tasks.THUMBNAIL_SIZE[::-1], 3)
    assert image.std() > 10
    strip = render_tasks.strip_path(world.animal, world.session.site, [volume])
    wait_until(absolute(strip).exists, timeout_s=60, interval_s=0.5)


def test_the_strip_takes_one_volume_per_session_preferring_remodelling_labels(world, volumes):
    first, second = volumes
    rerun = _volume(world.session, "rerun", ball(radius=9.0))
    labelled = _volume(
        world.session, "labels", ball(), labels={"remodelling": half_formed_labels()}
    )
    Volume.objects.filter(pk=labelled.pk).update(kind="remodelling")
    chosen = render_tasks.strip_volumes(world.animal, world.session.site)
    assert [v.pk for v in chosen] == [labelled.pk, second.pk]
    Volume.objects.filter(pk=labelled.pk).update(kind="reconstruction")
    chosen = render_tasks.strip_volumes(world.animal, world.session.site)
    assert [v.pk for v in chosen] == [max(rerun.pk, labelled.pk), second.pk]  # the newest
    assert first.pk not in [v.pk for v in chosen]


def test_the_animal_page_links_every_volume_and_result(world, pages, volumes):
    from analysis.models import AnalysisJob, MorphometryResult

    first, second = volumes
    job = AnalysisJob.objects.create(kind="morphometry", volume=first)
    result = MorphometryResult.objects.create(
        job=job, volume=first, volume_sha256=first.sha256, voxel_size_um=VOXEL_UM, units="1/cm",
        threshold=500.0, threshold_method="otsu", trabecular_voi="whole region",
        parameters={}, code_version="test", study_day=7, bv_tv=0.1234, tb_th_um=41.26,
    )  # fmt: skip
    html = pages("viewer").get(_url("animal-detail", world, world.animal.pk)).content.decode()
    for volume in (first, second):
        assert f'href="{reverse("viewer:page", args=[volume.pk])}"' in html
        assert _url("volume-mesh", world, volume.pk, "vtp") in html
    assert reverse("morphometryresult-detail", args=[result.pk]) in html
    assert '<td class="num">0.123</td><td class="num">41.3 µm</td>' in html
