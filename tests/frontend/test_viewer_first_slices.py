"""The viewer's first slices: PNGs on screen before WebGL starts, then WebGL's, unchanged.

With no view in the address the page carries the middle slices as images placed by CSS;
with one, a script draws that view's slices on a 2-D canvas.  Real pixels of both and of
the WebGL canvas are read back in headless Chromium (WebGL2 in SwiftShader).
"""

from __future__ import annotations

import base64
import re

import pytest
from django.test import Client
from django.urls import reverse

from frontend.viewer_page import first_slices
from tests.viewer.conftest import VOXEL_UM, make_volume, ramp
from tests.viewer.page_probes import CANVAS_PIXEL, NO_WEBGL2, viewer_opener, voxel_centre

SHAPE = (24, 20, 16)  # z, y, x


# The page's own picture of view `view` at stage point (x, y) (CSS px from the stage's
# top left, as the canvases): the PNG pixel that its <img> shows there (placed by CSS;
# rows upwards where the view is flipped), as RGBA.
IMAGE_PIXEL = """([view, x, y]) => {
  const img = document.querySelector(`#viewer-first img[data-view="${view}"]`);
  const stage = document.getElementById('viewer-stage').getBoundingClientRect();
  const r = img.getBoundingClientRect();
  const col = Math.floor(((x + stage.left - r.left) / r.width) * img.naturalWidth);
  const fromTop = Math.floor(((y + stage.top - r.top) / r.height) * img.naturalHeight);
  const row = img.classList.contains('flipped') ? img.naturalHeight - 1 - fromTop : fromTop;
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  return Array.from(ctx.getImageData(col, row, 1, 1).data);
}"""

# Distinct grey values of the axial picture the page carries.
AXIAL_IMAGE_LEVELS = """() => {
  const img = document.querySelector('#viewer-first img[data-view="axial"]');
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  const seen = new Set();
  for (let k = 0; k < d.length; k += 4) seen.add(d[k]);
  return seen.size;
}"""

HANDED_OVER = """() => window.nanoscope && document.getElementById('viewer-quick').hidden
  && document.getElementById('viewer-first').hidden
  && window.nanoscope.state.views.every((v) => v.shown[window.nanoscope.source.id])"""

# Voxels [z, y, x] of the ramp and the view that shows each in the middle slices.
PROBES = [("Axial", (12, 5, 3)), ("Coronal", (4, 10, 13)), ("Sagittal", (20, 17, 8))]


@pytest.mark.django_db
def test_the_page_carries_the_middle_slice_of_each_view(world):
    volume = make_volume(world.session, "ramp", ramp())
    base = reverse("viewer:slice", args=[volume.pk])
    # Every level-0 slice of 24 × 20 × 16 fits in 160 px: level 0, the middle voxels.
    assert [s["url"] for s in first_slices(volume)] == [
        f"{base}?axis=z&index=12&level=0&fmt=png",
        f"{base}?axis=y&index=10&level=0&fmt=png",
        f"{base}?axis=x&index=8&level=0&fmt=png",
    ]
    volume.shape, volume.n_levels = [700, 300, 90], 4  # levels 350×150×45, …, 88×38×12
    volume.save(update_fields=["shape", "n_levels"])
    # z-slices (300 × 90) fit in 160 px at level 1 (150 × 45); y- and x-slices, 700 long,
    # at level 3 (88 long): the index is the middle voxel's at that level.
    axial, coronal, sagittal = first_slices(volume)
    assert [s["url"].split("?")[1] for s in (axial, coronal, sagittal)] == [
        "axis=z&index=175&level=1&fmt=png",
        "axis=y&index=18&level=3&fmt=png",
        "axis=x&index=5&level=3&fmt=png",
    ]
    assert (axial["rows"], axial["cols"], axial["flip"]) == (150, 45, False)
    assert (sagittal["rows"], sagittal["cols"], sagittal["flip"]) == (88, 38, True)
    # Extents in µm: the volume's across and up the view, and the picture's, whose last
    # level-3 voxel reaches past the volume's 700 z-voxels (88 · 8 = 704) and 300 y (304).
    v = VOXEL_UM
    assert (
        sagittal["style"]
        == f"--w: {300 * v:g}; --h: {700 * v:g}; --iw: {304 * v:g}; --ih: {704 * v:g}"
    )
    # The record now names slices its file does not hold (24 × 20 × 16): the page
    # cannot carry them and points at the endpoint instead, preloaded.
    client = Client()
    client.force_login(world.users["viewer"])
    html = client.get(reverse("viewer:page", args=[volume.pk])).content.decode()
    url = f"{base}?axis=z&amp;index=175&amp;level=1&amp;fmt=png"
    assert f'<link rel="preload" href="{url}" as="image"' in html
    assert f'src="{url}"' in html and 'elementtiming="first-slice"' in html


@pytest.mark.django_db
def test_the_page_carries_its_first_slices_inline_as_the_endpoint_draws_them(world):
    volume = make_volume(world.session, "ramp", ramp())
    client = Client()
    client.force_login(world.users["viewer"])
    html = client.get(reverse("viewer:page", args=[volume.pk])).content.decode()
    sources = re.findall(r'class="first-slice[^"]*" src="data:image/png;base64,([^"]+)"', html)
    assert len(sources) == 3 and 'as="image"' not in html
    for source, axis in zip(sources, "zyx", strict=True):
        url = next(
            s["url"] for s in first_slices(volume, inline=False) if f"axis={axis}" in s["url"]
        )
        assert base64.b64decode(source) == client.get(url).content


@pytest.fixture
def open_viewer(world, chromium, live_server):
    """``open_viewer(volume, init_script=None)`` → a Playwright page of the viewer."""
    with viewer_opener(world.users, chromium, live_server.url) as open_:
        yield open_


def _assert_same_picture(page, probe: str, first_picture, probes=PROBES) -> None:
    """At voxel centres in every view, the first picture (the server's 8-bit PNG with
    its window) and WebGL's (u16 values, window in the shader) agree within two grey
    levels of rounding.  ``first_picture(view name, x, y)`` gives ``probe``'s argument."""
    for name, voxel in probes:
        x, y = page.evaluate(
            "([n, p]) => window.nanoscope.toScreen(n, p)", [name, voxel_centre(*voxel)]
        )
        png = page.evaluate(probe, first_picture(name, x, y))
        webgl = page.evaluate(CANVAS_PIXEL, ["viewer-gl", x, y])
        assert png[3] == 255 and max(abs(a - b) for a, b in zip(png, webgl, strict=True)) <= 2, (
            name,
            png,
            webgl,
        )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_webgl_takes_over_from_the_pages_own_slices_with_the_same_picture(world, open_viewer):
    volume = make_volume(world.session, "ramp", ramp())
    page = open_viewer(volume)
    page.wait_for_function(HANDED_OVER, timeout=30_000)
    assert page.evaluate("() => performance.getEntriesByName('nanoscope:quick-slices').length")
    pngs = page.evaluate(
        "() => performance.getEntriesByType('resource').map((e) => e.name)"
        ".filter((n) => n.includes('fmt=png'))"
    )
    assert pngs == []  # the page carried its three pictures
    # Hidden at the handover; shown again here to read where CSS placed them.
    page.evaluate("() => { document.getElementById('viewer-first').hidden = false; }")
    _assert_same_picture(page, IMAGE_PIXEL, lambda name, x, y: [name.lower(), x, y])
    assert page.errors == []


# Where CSS placed view `view`'s picture (CSS px from the stage's top left).
IMAGE_BOX = """(view) => {
  const img = document.querySelector(`#viewer-first img[data-view="${view}"]`);
  const stage = document.getElementById('viewer-stage').getBoundingClientRect();
  const r = img.getBoundingClientRect();
  return [r.left - stage.left, r.top - stage.top, r.width, r.height];
}"""


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_coarse_pictures_lie_where_webgl_draws_the_volume(world, open_viewer):
    # 171 voxels across: the axial and coronal pictures are level 1 (86 columns, the last
    # reaching half a voxel past the volume), the coronal one 13 rows up for 25 z-slices.
    shape = (25, 20, 171)
    volume = make_volume(world.session, "wide", ramp(shape))
    page = open_viewer(volume)
    page.wait_for_function(HANDED_OVER, timeout=30_000)
    page.evaluate("() => { document.getElementById('viewer-first').hidden = false; }")
    half = [n * VOXEL_UM / 2 for n in shape]
    for name, axis, (rows, cols) in [("Axial", 0, (10, 86)), ("Coronal", 1, (13, 86))]:
        down, across = (d for d in range(3) if d != axis)
        corner = [0.0, 0.0, 0.0]
        corner[down], corner[across] = -half[down], -half[across]  # the volume's low corner
        x0, y0 = page.evaluate("([n, p]) => window.nanoscope.toScreen(n, p)", [name, corner])
        zoom = page.evaluate(
            "(n) => window.nanoscope.state.views.find((v) => v.name === n).zoom", name
        )
        width, height = cols * 2 * VOXEL_UM * zoom, rows * 2 * VOXEL_UM * zoom
        # Row 0 at the low corner: downwards from it (axial), upwards (coronal, flipped).
        expected = [x0, y0 if axis == 0 else y0 - height, width, height]
        box = page.evaluate(IMAGE_BOX, name.lower())
        assert box == pytest.approx(expected, abs=1.0), (name, box, expected)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_view_in_the_address_is_drawn_first_on_the_canvas(world, open_viewer):
    volume = make_volume(world.session, "ramp", ramp())
    # The crosshair off the middle: the page's own middle slices would show other voxels.
    at = voxel_centre(20, 5, 8)
    page = open_viewer(volume, hash=f"#p={at[0]},{at[1]},{at[2]}")
    assert not page.locator("#viewer-first").is_visible()
    page.wait_for_function(HANDED_OVER, timeout=30_000)
    assert page.evaluate("() => performance.getEntriesByName('nanoscope:quick-slices').length")
    z_slices = page.evaluate(
        "() => performance.getEntriesByType('resource').map((e) => e.name)"
        ".filter((n) => n.includes('fmt=png') && n.includes('axis=z'))"
    )
    assert [n.split("?")[1].split("&")[1] for n in z_slices] == ["index=20"]
    page.evaluate("() => { document.getElementById('viewer-quick').hidden = false; }")
    _assert_same_picture(
        page,
        CANVAS_PIXEL,
        lambda name, x, y: ["viewer-quick", x, y],
        [("Axial", (20, 5, 3)), ("Coronal", (4, 5, 13)), ("Sagittal", (20, 17, 8))],
    )
    assert page.errors == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_without_webgl2_the_pages_own_slices_stay_beside_the_message(world, open_viewer):
    volume = make_volume(world.session, "ramp", ramp())
    page = open_viewer(volume, init_script=NO_WEBGL2)
    page.locator("#viewer-nogl").wait_for(state="visible")
    assert "still pictures" in page.locator("#viewer-nogl").inner_text()
    page.wait_for_function(
        "() => performance.getEntriesByName('nanoscope:quick-slices').length === 1"
    )
    assert page.locator("#viewer-first").is_visible()
    assert not page.locator("#viewer-gl").is_visible()
    # The axial picture shows the ramp: many grey levels (a blank view has one).
    assert page.evaluate(AXIAL_IMAGE_LEVELS) > 20
