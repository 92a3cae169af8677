"""The viewer's first slices: PNGs drawn before WebGL starts, then WebGL's, unchanged.

Real pixels of both canvases are read back in headless Chromium (WebGL2 in SwiftShader).
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from frontend.viewer_page import first_slice_urls
from tests.viewer.conftest import make_volume, ramp
from tests.viewer.page_probes import CANVAS_PIXEL, viewer_opener, voxel_centre

SHAPE = (24, 20, 16)  # z, y, x


# Distinct red values in the top-left quarter (the axial view) of canvas `id`.
AXIAL_LEVELS = """(id) => {
  const canvas = document.getElementById(id);
  const d = canvas.getContext('2d').getImageData(0, 0, canvas.width / 2, canvas.height / 2).data;
  const seen = new Set();
  for (let k = 0; k < d.length; k += 4) seen.add(d[k]);
  return seen.size;
}"""

HANDED_OVER = """() => window.nanoscope && document.getElementById('viewer-quick').hidden
  && window.nanoscope.state.views.every((v) => v.shown[window.nanoscope.source.id])"""


@pytest.mark.django_db
def test_the_page_preloads_the_middle_slice_of_each_axis(world):
    volume = make_volume(world.session, "ramp", ramp())
    base = reverse("viewer:slice", args=[volume.pk])
    # Every level-0 slice of 24 × 20 × 16 fits in 160 px: level 0, the middle voxels.
    assert first_slice_urls(volume) == [
        f"{base}?axis=z&index=12&level=0&fmt=png",
        f"{base}?axis=y&index=10&level=0&fmt=png",
        f"{base}?axis=x&index=8&level=0&fmt=png",
    ]
    volume.shape, volume.n_levels = [700, 300, 90], 4  # levels 350×150×45, …, 88×38×12
    volume.save(update_fields=["shape", "n_levels"])
    # z-slices (300 × 90) fit in 160 px at level 1 (150 × 45); y- and x-slices, 700 long,
    # at level 3 (88 long): the index is the middle voxel's at that level.
    assert [u.split("?")[1] for u in first_slice_urls(volume)] == [
        "axis=z&index=175&level=1&fmt=png",
        "axis=y&index=18&level=3&fmt=png",
        "axis=x&index=5&level=3&fmt=png",
    ]
    client = Client()
    client.force_login(world.users["viewer"])
    html = client.get(reverse("viewer:page", args=[volume.pk])).content.decode()
    assert f'href="{base}?axis=z&amp;index=175&amp;level=1&amp;fmt=png" as="fetch"' in html


@pytest.fixture
def open_viewer(world, chromium, live_server):
    """``open_viewer(volume, init_script=None)`` → a Playwright page of the viewer."""
    with viewer_opener(world.users, chromium, live_server.url) as open_:
        yield open_


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_webgl_takes_over_from_the_png_slices_with_the_same_picture(world, open_viewer):
    volume = make_volume(world.session, "ramp", ramp())
    page = open_viewer(volume)
    page.wait_for_function(HANDED_OVER, timeout=30_000)
    assert page.evaluate("() => performance.getEntriesByName('nanoscope:quick-slices').length")
    pngs = page.evaluate(
        "() => performance.getEntriesByType('resource').map((e) => e.name)"
        ".filter((n) => n.includes('fmt=png'))"
    )
    assert sorted(p.split("axis=")[1][0] for p in pngs) == ["x", "y", "z"]
    # The PNG (server window, 8 bits) and WebGL (u16 values, window in the shader) agree
    # at voxel centres in every view, within a grey level of rounding.
    for name, voxel in [("Axial", (12, 5, 3)), ("Coronal", (4, 10, 13)), ("Sagittal", (20, 17, 8))]:
        x, y = page.evaluate(
            "([n, p]) => window.nanoscope.toScreen(n, p)", [name, voxel_centre(*voxel)]
        )
        png = page.evaluate(CANVAS_PIXEL, ["viewer-quick", x, y])
        webgl = page.evaluate(CANVAS_PIXEL, ["viewer-gl", x, y])
        assert png[3] == 255 and max(abs(a - b) for a, b in zip(png, webgl, strict=True)) <= 2, (
            name,
            png,
            webgl,
        )
    assert page.errors == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_without_webgl2_the_png_slices_stay_beside_the_message(world, open_viewer):
    volume = make_volume(world.session, "ramp", ramp())
    no_webgl2 = """
      const original = HTMLCanvasElement.prototype.getContext;
      HTMLCanvasElement.prototype.getContext = function (kind, ...rest) {
        return kind === 'webgl2' ? null : original.call(this, kind, ...rest);
      };"""
    page = open_viewer(volume, init_script=no_webgl2)
    page.locator("#viewer-nogl").wait_for(state="visible")
    assert "still pictures" in page.locator("#viewer-nogl").inner_text()
    page.wait_for_function(
        "() => performance.getEntriesByName('nanoscope:quick-slices').length === 1"
    )
    assert page.locator("#viewer-quick").is_visible()
    assert not page.locator("#viewer-gl").is_visible()
    # The axial view shows the ramp: many grey levels (a blank view has one).
    assert page.evaluate(AXIAL_LEVELS, "viewer-quick") > 20
