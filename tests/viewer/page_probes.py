"""The viewer page in the browser tests: opening it, and what they read back from it.

Shared by the viewer's browser tests (``tests/viewer``, ``tests/frontend``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from django.conf import settings
from django.test import Client
from django.urls import reverse

# An init script that makes the page's browser offer no WebGL2 context.
NO_WEBGL2 = """
  const original = HTMLCanvasElement.prototype.getContext;
  HTMLCanvasElement.prototype.getContext = function (kind, ...rest) {
    return kind === 'webgl2' ? null : original.call(this, kind, ...rest);
  };"""


def _let_requests_finish(page, timeout_s: float = 10.0) -> None:
    """Wait (bounded) until every request the page sent has its whole answer."""
    deadline = time.monotonic() + timeout_s
    with contextlib.suppress(Exception):  # a closed page has nothing in flight
        while page.in_flight and time.monotonic() < deadline:
            page.wait_for_timeout(50)


@contextlib.contextmanager
def viewer_opener(users: dict, chromium, base_url: str) -> Iterator[Callable]:
    """``open_(volume, who="viewer", hash="", init_script=None)`` → a Playwright page.

    Each page is logged in as ``users[who]`` in a 1280 × 900 context of its own;
    ``page.errors`` collects the page's uncaught errors; on exit each page's requests are
    answered in full and the contexts close.
    """
    contexts = []

    def open_(volume, who="viewer", hash="", init_script=None):
        client = Client()
        client.force_login(users[who])
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": base_url}]
        )
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.in_flight = set()
        page.on("request", lambda request: page.in_flight.add(request))
        page.on("requestfinished", lambda request: page.in_flight.discard(request))
        page.on("requestfailed", lambda request: page.in_flight.discard(request))
        if init_script:
            page.add_init_script(init_script)
        page.goto(f"{base_url}{reverse('viewer:page', args=[volume.pk])}{hash}")
        return page

    try:
        yield open_
    finally:
        for context in contexts:
            # Let the live server answer what the pages still asked for (the viewer
            # fetches slices ahead) before the test's database is flushed under it.
            for page in context.pages:
                _let_requests_finish(page)
            context.close()


# RGBA at CSS pixel (x, y) of the canvas with id `id` (the PNG canvas or the WebGL one),
# in the WebGL canvas's device pixels.
CANVAS_PIXEL = """([id, x, y]) => {
  const canvas = document.getElementById(id);
  const gl = document.getElementById('viewer-gl');
  const dpr = gl.width / gl.getBoundingClientRect().width;
  const c = document.createElement('canvas');
  c.width = canvas.width; c.height = canvas.height;
  const ctx = c.getContext('2d');
  ctx.drawImage(canvas, 0, 0);
  return Array.from(ctx.getImageData(Math.floor(x * dpr), Math.floor(y * dpr), 1, 1).data);
}"""

# RGBA of the WebGL canvas at CSS pixel (x, y).
PIXEL = f"([x, y]) => ({CANVAS_PIXEL})(['viewer-gl', x, y])"

# Number of distinct grey levels and the spread within a CSS rectangle of the canvas.
REGION_STATS = """([x, y, w, h]) => {
  const gl = document.getElementById('viewer-gl');
  const c = document.createElement('canvas');
  c.width = gl.width; c.height = gl.height;
  const ctx = c.getContext('2d');
  ctx.drawImage(gl, 0, 0);
  const dpr = gl.width / gl.getBoundingClientRect().width;
  const d = ctx.getImageData(x * dpr, y * dpr, w * dpr, h * dpr).data;
  const seen = new Set();
  let lo = 255, hi = 0;
  for (let k = 0; k < d.length; k += 4) { seen.add(d[k]); lo = Math.min(lo, d[k]); hi = Math.max(hi, d[k]); }
  return {distinct: seen.size, lo, hi};
}"""

# Every view shows the slice through the cursor (and its label slice where an overlay
# is chosen).
ALL_VIEWS_DRAWN = """() => window.nanoscope && window.nanoscope.state.views.every((v) => {
  const n = window.nanoscope;
  const got = v.shown[n.source.id];
  return got && got.base.index === n.source.index(v.axis, n.state.p[v.axis], got.base.level)
    && (!n.state.overlay || got.label);
}) && document.getElementById('viewer-status').textContent === ''"""


def voxel_centre(k: int, j: int, i: int, shape=(24, 20, 16), voxel_um=5.0) -> list[float]:
    """World position (µm, [z, y, x]) of voxel (k, j, i), centre of the volume at 0."""
    return [(n - (s - 1) / 2) * voxel_um for n, s in zip((k, j, i), shape, strict=True)]
