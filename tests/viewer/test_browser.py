"""The viewer in a real browser: Debian's Chromium, headless, WebGL2 in SwiftShader.

Real pixels are read back from the WebGL canvas (``preserveDrawingBuffer``) by a few
lines of page script that do not use the viewer's code.  Locally a missing Chromium or
Playwright skips these tests with a loud banner; with ``CI=true`` it fails the run.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from studies import models as m
from tests.viewer.conftest import CALIBRATION, make_volume, ramp
from tests.viewer.page_probes import (
    ALL_VIEWS_DRAWN,
    NO_WEBGL2,
    PIXEL,
    REGION_STATS,
    viewer_opener,
    voxel_centre,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def open_viewer(world, chromium, live_server):
    """``open_viewer(volume, who="viewer", hash="", init_script=None)`` → a Playwright page."""
    with viewer_opener(world.users, chromium, live_server.url) as open_:
        yield open_


def stage_origin(page) -> tuple[float, float]:
    box = page.locator("#viewer-gl").bounding_box()
    return box["x"], box["y"]


def test_slices_are_drawn_and_the_value_under_the_cursor_is_the_volumes(volume, open_viewer):
    page = open_viewer(volume)
    page.wait_for_function(ALL_VIEWS_DRAWN, timeout=30_000)
    rects = page.evaluate("() => window.nanoscope.state.views.map((v) => v.rect)")
    for rect in rects:  # every view shows a ramp: many grey levels, dark to bright
        stats = page.evaluate(REGION_STATS, [rect["x"], rect["y"], rect["w"], rect["h"]])
        assert stats["distinct"] > 20 and stats["hi"] - stats["lo"] > 100, stats

    k, j, i = 10, 7, 12
    target = voxel_centre(k, j, i)
    page.evaluate("(p) => window.nanoscope.setCursor(p)", target)
    page.wait_for_function(ALL_VIEWS_DRAWN)
    x, y = page.evaluate("(p) => window.nanoscope.toScreen('Axial', p)", target)
    ox, oy = stage_origin(page)
    page.mouse.move(ox + x, oy + y)
    page.wait_for_function("() => document.getElementById('readout-value').dataset.value !== ''")
    value = float(page.locator("#readout-value").get_attribute("data-value"))
    expected = float(ramp()[k, j, i])  # 100 k + 10 j + i / 10 = 1071.2 (1/cm)
    # u16 quantisation of a slice spanning 191.5: half a step is 0.0015.
    assert value == pytest.approx(expected, abs=0.01)
    density = float(page.locator("#readout-density").get_attribute("data-value"))
    assert density == pytest.approx(
        CALIBRATION["slope"] * expected + CALIBRATION["intercept"], abs=5
    )
    assert "voxel (z, y, x) = (10, 7, 12)" in page.locator("#readout-voxel").inner_text()
    assert page.errors == []


def test_toggling_an_overlay_class_changes_its_pixels(volume, open_viewer):
    page = open_viewer(volume)
    page.wait_for_function(ALL_VIEWS_DRAWN, timeout=30_000)
    inside_formed = voxel_centre(6, 7, 5)  # the formed block: z 4:12, y 4:10, x 2:8
    page.evaluate("(p) => window.nanoscope.setCursor(p)", inside_formed)
    page.wait_for_function(ALL_VIEWS_DRAWN)
    # A point of the axial view inside the block but away from the crosshair lines.
    point = voxel_centre(6, 5, 3)
    x, y = page.evaluate("(p) => window.nanoscope.toScreen('Axial', p)", point)
    on = page.evaluate(PIXEL, [x, y])
    page.locator("input[data-class=formed]").uncheck()
    page.wait_for_timeout(300)
    off = page.evaluate(PIXEL, [x, y])
    assert on != off
    # With the overlay, orange (#ff9f1c at 75 %) dominates; without it, grey (r = g = b).
    assert on[0] > on[2] + 60, on
    assert off[0] == off[1] == off[2], off
    page.locator("input[data-class=formed]").check()
    page.wait_for_timeout(300)
    assert page.evaluate(PIXEL, [x, y]) == on


def test_the_view_is_kept_in_the_address_and_restored(volume, open_viewer):
    page = open_viewer(volume)
    page.wait_for_function(ALL_VIEWS_DRAWN, timeout=30_000)
    target = voxel_centre(3, 4, 5)
    page.evaluate("(p) => window.nanoscope.setCursor(p)", target)
    page.select_option("#colour-map", "viridis")
    page.wait_for_function("() => location.hash.includes('cm=viridis')")
    shared = page.url.split("#", 1)[1]
    again = open_viewer(volume, hash=f"#{shared}")
    again.wait_for_function(ALL_VIEWS_DRAWN, timeout=30_000)
    assert again.evaluate("() => window.nanoscope.state.p") == pytest.approx(target)
    assert again.locator("#colour-map").input_value() == "viridis"


def test_a_line_measures_distance_in_micrometres(volume, open_viewer):
    page = open_viewer(volume)
    page.wait_for_function(ALL_VIEWS_DRAWN, timeout=30_000)
    page.keyboard.press("l")
    a, b = voxel_centre(12, 2, 2), voxel_centre(12, 2, 14)  # 12 voxels of 5 µm along x
    ax, ay = page.evaluate("(p) => window.nanoscope.toScreen('Axial', p)", a)
    bx, by = page.evaluate("(p) => window.nanoscope.toScreen('Axial', p)", b)
    ox, oy = stage_origin(page)
    page.mouse.move(ox + ax, oy + ay)
    page.mouse.down()
    page.mouse.move(ox + bx, oy + by, steps=4)
    page.mouse.up()
    distance = float(page.locator("#profile-distance").get_attribute("data-um"))
    assert distance == pytest.approx(60.0, abs=0.5)  # screen rounding: well under a voxel


def test_swipe_compares_two_time_points(world, volume, open_viewer):
    later = m.ScanSession.objects.create(
        animal=world.animal,
        site=world.session.site,
        planned_at=world.study.datetime_of_day(28, dt.time(10)),
    )
    follow_up = make_volume(later, "follow-up", ramp()[:, ::-1, :].copy())
    page = open_viewer(volume)
    page.wait_for_function(ALL_VIEWS_DRAWN, timeout=30_000)
    rect = page.evaluate("() => window.nanoscope.state.views[0].rect")
    probe = [rect["x"] + rect["w"] * 0.75, rect["y"] + rect["h"] * 0.3]
    before = page.evaluate(PIXEL, probe)
    page.select_option("#compare-select", str(follow_up.pk))
    page.wait_for_function(
        "(id) => window.nanoscope.state.views[0].shown[id] !== undefined", arg=follow_up.pk
    )
    after = page.evaluate(PIXEL, probe)
    assert before != after  # right of the swipe line: the follow-up, mirrored in y
    left = [rect["x"] + rect["w"] * 0.25, probe[1]]
    page.fill("#swipe", "1")
    page.dispatch_event("#swipe", "input")
    page.wait_for_timeout(300)
    assert page.evaluate(PIXEL, probe) == before  # swiped fully right: only the baseline
    assert page.evaluate(PIXEL, left) != [0, 0, 0, 0]


def test_a_browser_without_webgl2_is_told_so(volume, open_viewer):
    page = open_viewer(volume, init_script=NO_WEBGL2)
    message = page.locator("#viewer-nogl")
    message.wait_for(state="visible")
    assert "WebGL2" in message.inner_text()


def test_full_resolution_tiles_replace_the_coarser_slice(world, open_viewer):
    # 640² slices exceed the 512² of a whole-slice request: level 1 (320²) is drawn
    # first, then 256² tiles of level 0 where the zoom asks for full resolution.
    shape = (8, 640, 640)
    labels = np.zeros(shape, np.uint8)
    labels[4, 300, 416] = 2  # one formed voxel: level 1 (block max) marks its whole block
    big = make_volume(world.session, "big", ramp(shape), labels={"remodelling": labels}, chunk=64)
    page = open_viewer(big)
    page.wait_for_function(ALL_VIEWS_DRAWN, timeout=30_000)
    k, j, i = 4, 301, 417
    target = voxel_centre(k, j, i, shape=shape)
    page.evaluate("(p) => window.nanoscope.setCursor(p)", target)
    for _ in range(3):  # zoom the axial view ×1.95: voxels of about 1.4 px
        page.keyboard.press("+")
    page.wait_for_function(ALL_VIEWS_DRAWN)
    x, y = page.evaluate("(p) => window.nanoscope.toScreen('Axial', p)", target)
    ox, oy = stage_origin(page)
    page.mouse.move(ox + x, oy + y)
    expected = float(ramp(shape)[k, j, i])  # 100 k + 10 j + i / 10 = 3451.7
    # Level 1 would read the mean of a 2×2×2 block (≥ 5 away); a tile reads the voxel.
    page.wait_for_function(
        "(v) => Math.abs(Number(document.getElementById('readout-value').dataset.value) - v) < 0.05",
        arg=expected,
        timeout=30_000,
    )
    shown = page.evaluate(
        "() => { const g = window.nanoscope.state.views[0].shown[window.nanoscope.source.id];"
        " return {base: g.base.level, tiles: g.tiles.map((t) => [t.level, t.r0, t.c0])}; }"
    )
    assert shown["base"] == 1
    assert [0, 256, 256] in shown["tiles"]  # the tile holding voxel (301, 417)
    # Labels too come in full-resolution tiles: the neighbour of the formed voxel is not.
    label = page.locator("#readout-label")
    page.wait_for_function(
        "() => document.getElementById('readout-label').textContent === 'background'"
    )
    formed = voxel_centre(4, 300, 416, shape=shape)
    x, y = page.evaluate("(p) => window.nanoscope.toScreen('Axial', p)", formed)
    page.mouse.move(ox + x, oy + y)
    assert label.inner_text() == "formed"


def test_the_screenshot_is_a_png_of_the_views(volume, open_viewer, tmp_path):
    page = open_viewer(volume)
    page.wait_for_function(ALL_VIEWS_DRAWN, timeout=30_000)
    with page.expect_download() as download:
        page.click("#screenshot-button")
    saved = tmp_path / "shot.png"
    download.value.save_as(saved)
    assert download.value.suggested_filename.startswith(f"nanoscope-volume-{volume.pk}-")
    data = saved.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    canvas = page.evaluate(
        "() => [document.getElementById('viewer-gl').width, document.getElementById('viewer-gl').height]"
    )
    assert [width, height] == canvas


def test_the_3d_preview_projects_the_volume(volume, open_viewer):
    page = open_viewer(volume)
    page.wait_for_function(ALL_VIEWS_DRAWN, timeout=30_000)
    rect = page.evaluate("() => window.nanoscope.state.rect3d")
    box = [rect["x"], rect["y"], rect["w"], rect["h"]]
    # The ramp's maximum-intensity projection: a shaded box on the dark background.
    page.wait_for_function(f"() => ({REGION_STATS})({box}).distinct > 20", timeout=30_000)
    corner = page.evaluate(PIXEL, [rect["x"] + 3, rect["y"] + rect["h"] - 3])
    centre = page.evaluate(PIXEL, [rect["x"] + rect["w"] / 2, rect["y"] + rect["h"] / 2])
    assert corner[:3] == [14, 16, 20]  # the background (0.055, 0.063, 0.078) outside the box
    assert sum(centre[:3]) > 3 * 100  # bright: the largest values along each ray
