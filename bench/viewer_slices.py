"""The viewer's slice endpoint and the browser's time to first slice.

Writes bone-like float32 volumes of 512³ and 1024³ (the latter 4 GiB, slab by slab with
:class:`recon.volume_store.VolumeWriter`; ``--quick`` skips it) into a temporary data
root, records them in a temporary SQLite database, and then

1. requests full-resolution slices through Django's whole request path (``Client``,
   session authentication, the access rule, ETag, encoding) — random positions along
   each axis, each position once (no HTTP cache) — and prints p50/p95 (and the first and slowest request) per slice size,
   axis and format (``f32``, ``u16``, ``png``) with bytes per slice; then scrolling
   (consecutive z-slices, as a mouse wheel does);
2. times the PNG encoders on one slice: the endpoint's own zlib writer at levels 1 and
   6, and Pillow's where it is installed;
3. serves the site on loopback (threaded WSGI server) and opens the viewer in headless
   Chromium several times with a cold cache: the time from navigation start to the
   first slice painted (Element Timing of the page's own slice images: the server's
   PNGs of a coarse level, placed by CSS, on screen before any script runs) and all
   three, to the script's ``nanoscope:first-slice`` and ``nanoscope:quick-slices``
   marks (the images decoded), ``nanoscope:gl-first-slice`` and ``nanoscope:handover``
   (WebGL draws every view; the PNGs are hidden), and to ``nanoscope:slices-complete``
   (every view at the level its zoom asks for), with the resource timings before them —
   in two browser set-ups (:data:`BROWSER_SETUPS`), each beside a blank page's first
   paint, which is the browser's own floor.

Run::

    .venv/bin/python -m bench.viewer_slices --quick      # 512³ only
    .venv/bin/python -m bench.viewer_slices --browser-only --browser-runs 9   # part 3 only
    .venv/bin/python -m bench.viewer_slices              # 512³ and 1024³ (≈ 8 GiB disk)

Figures only; nothing is asserted.  Goals from the issue: p95 ≤ 25 ms (512²) and
≤ 60 ms (1024²); first slice ≤ 300 ms.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]
#: Browser set-ups of part 3: the tests' (WebGL2 in software, which also makes the
#: compositor draw every frame through SwiftShader: ~300 ms before a page's first paint
#: on this machine, a blank page's too) and plain headless Chromium (its own compositor;
#: WebGL2 as the browser provides it), each beside the first paint of a blank page.
BROWSER_SETUPS = {
    "software WebGL (SwiftShader)": CHROMIUM_ARGS,
    "plain headless": CHROMIUM_ARGS[:2],
}
BLANK_PAGE = "data:text/html,<!doctype html><title>blank</title><p>blank page</p>"
VIEWER_DONE = """() => performance.getEntriesByName('nanoscope:slices-complete').length > 0
  || (performance.getEntriesByName('nanoscope:quick-slices').length > 0
      && !document.getElementById('viewer-nogl').hidden)"""
SLAB = 64
FIRST_SLICE_TIMES = """async () => {
  // Element Timing: when the page's own slice images were painted (buffered entries
  // reach a new observer in its first callback).
  const painted = await new Promise((resolve) => {
    const found = [];
    new PerformanceObserver((list) => found.push(...list.getEntries()))
      .observe({ type: 'element', buffered: true });
    setTimeout(() => resolve(found.map((e) => e.renderTime || e.loadTime)), 200);
  });
  const fcp = performance.getEntriesByName('first-contentful-paint');
  const r = performance.getEntriesByType('resource');
  const end = (part) => r.filter((e) => e.name.includes(part)).map((e) => e.responseEnd);
  const mark = (name) => {
    const found = performance.getEntriesByName(name);
    return found.length ? found[0].startTime : null;
  };
  return {
    scripts: Math.max(...end('.js')),
    metadata: Math.min(...end('/metadata')),
    slices: Math.max(...end('/slice?').slice(0, 3)),
    start: mark('nanoscope:start'),
    programs: mark('nanoscope:programs'),
    requested: Math.min(...r.filter((e) => e.name.includes('/slice?')).map((e) => e.startTime)),
    drawn: mark('nanoscope:first-slice'),
    quick: mark('nanoscope:quick-slices'),
    gl: mark('nanoscope:gl-first-slice'),
    handover: mark('nanoscope:handover'),
    complete: mark('nanoscope:slices-complete'),
    painted: painted.length ? Math.min(...painted) : null,
    paintedAll: painted.length === 3 ? Math.max(...painted) : null,
    fcp: fcp.length ? fcp[0].startTime : null,
  };
}"""


def bone_like_slab(n: int, z0: int, depth: int, seed: int) -> np.ndarray:
    """``depth`` z-slices of a trabecular-looking pattern with noise (float32, 1/cm)."""
    rng = np.random.default_rng(seed + z0)
    z = np.arange(z0, z0 + depth, dtype=np.float32)[:, None, None]
    y = np.arange(n, dtype=np.float32)[None, :, None]
    x = np.arange(n, dtype=np.float32)[None, None, :]
    pattern = np.sin(x / 7.0) * np.sin(y / 9.0) + np.sin(z / 11.0 + x / 13.0) * 0.6
    bone = pattern > 0.45
    r2 = (x - n / 2) ** 2 + (y - n / 2) ** 2
    cortex = (r2 > (0.40 * n) ** 2) & (r2 < (0.46 * n) ** 2)
    noise = rng.standard_normal((depth, n, n), dtype=np.float32) * np.float32(0.3)
    return (np.float32(0.5) + np.float32(4.0) * (bone | cortex) + noise).astype(np.float32)


def write_bench_volume(path: Path, n: int) -> str:
    from recon.volume_store import VolumeWriter

    with VolumeWriter(
        path, (n, n, n), 5.0, "1/cm", calibration={"slope": 300.0, "intercept": -150.0}
    ) as w:
        for z0 in range(0, n, SLAB):
            w.write_slab(z0, bone_like_slab(n, z0, min(SLAB, n - z0), seed=n))
    return w.sha256


def setup_django(workdir: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nanoscope_web.settings")
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ["NANOSCOPE_DATA_ROOT"] = str(workdir / "data")
    os.environ["NANOSCOPE_VAR_DIR"] = str(workdir / "var")
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1,localhost,testserver"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def make_records(sizes: list[int], workdir: Path):
    """A user, a study, one animal and a Volume per size; returns (user, {n: volume})."""
    import datetime as dt

    from django.contrib.auth import get_user_model

    from recon.models import Volume
    from recon.volume_store import read_metadata
    from studies import models as m
    from studies.datafiles import absolute

    user = get_user_model().objects.create_user("bench", password="bench-password-123")
    study = m.Study.objects.create(
        title="Bench",
        ethics_licence="B-1",
        principal_investigator="PI",
        start_date=dt.date(2026, 1, 5),
    )
    m.Membership.objects.create(study=study, user=user, role="viewer")
    cohort = m.Cohort.objects.create(study=study, name="C")
    animal = m.Animal.objects.create(study=study, cohort=cohort, label="B01", sex="female")
    volumes = {}
    for n in sizes:
        session = m.ScanSession.objects.create(
            animal=animal,
            site="tibia-right-proximal",
            planned_at=study.datetime_of_day(7 * n // 512, dt.time(10)),
        )
        relative = f"study-{study.pk}/volume-{n}.h5"
        path = absolute(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        sha = write_bench_volume(path, n)
        print(
            f"wrote {n}³ float32 in {time.perf_counter() - t0:.1f} s: {path.stat().st_size / 2**20:.0f} MiB on disk"
        )
        meta = read_metadata(path)
        # bulk_create sends no post_save: no automatic analysis of the bench volumes.
        (volumes[n],) = Volume.objects.bulk_create([Volume(
            session=session, relative_path=relative, sha256=sha, size_bytes=path.stat().st_size,
            shape=[n, n, n], voxel_size_um=5.0, units="1/cm", n_levels=len(meta.shapes),
        )])  # fmt: skip
    return user, volumes


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def bench_endpoint(user, volumes: dict, repeats: int) -> None:
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(user)
    rng = np.random.default_rng(1)
    print("\nslice endpoint, level 0, through Django (ms; each position requested once)")
    print(
        f"{'volume':>8} {'axis':>4} {'fmt':>4} {'p50':>7} {'p95':>7} {'first':>7} {'max':>7}"
        f" {'KiB/slice':>10}"
    )
    for n, volume in volumes.items():
        url = reverse("viewer:slice", args=[volume.pk])
        for axis in ("z", "y", "x"):
            for fmt in ("f32", "u16", "png"):
                times, sizes = [], []
                for index in rng.choice(n, size=repeats, replace=False):
                    t0 = time.perf_counter()
                    response = client.get(url, {"axis": axis, "index": int(index), "fmt": fmt})
                    times.append((time.perf_counter() - t0) * 1e3)
                    assert response.status_code == 200, response.content[:200]
                    sizes.append(len(response.content))
                print(
                    f"{n:>7}³ {axis:>4} {fmt:>4} {percentile(times, 50):7.1f} {percentile(times, 95):7.1f}"
                    f" {times[0]:7.1f} {max(times):7.1f} {statistics.mean(sizes) / 1024:10.0f}"
                )
        times = []
        start = int(rng.integers(0, n - repeats))
        for index in range(start, start + repeats):
            t0 = time.perf_counter()
            client.get(url, {"axis": "z", "index": index, "fmt": "u16"})
            times.append((time.perf_counter() - t0) * 1e3)
        print(
            f"{n:>7}³ scrolling z (u16, consecutive): p50 {percentile(times, 50):.1f} ms,"
            f" p95 {percentile(times, 95):.1f} ms"
        )


def bench_png(volumes: dict) -> None:
    from frontend.slice_codec import encode_png_gray, window_to_uint8
    from recon.volume_store import read_region
    from studies.datafiles import absolute

    print("\nPNG encoding of one windowed level-0 z-slice (ms, median of 9)")
    try:
        from PIL import Image
        from PIL import __version__ as pillow_version
    except ImportError:
        Image, pillow_version = None, None
    for n, volume in volumes.items():
        image = window_to_uint8(read_region(absolute(volume.relative_path), 0, n // 2), 0.0, 5.0)
        cases = {
            "zlib level 1 (endpoint)": lambda im=image: encode_png_gray(im, 1),
            "zlib level 6": lambda im=image: encode_png_gray(im, 6),
        }
        if Image is not None:

            def pillow(im=image, level=1):
                out = io.BytesIO()
                Image.fromarray(im).save(out, format="PNG", compress_level=level)
                return out.getvalue()

            cases[f"Pillow {pillow_version} level 1"] = pillow
        for name, encode in cases.items():
            times = []
            for _ in range(9):
                t0 = time.perf_counter()
                data = encode()
                times.append((time.perf_counter() - t0) * 1e3)
            print(
                f"  {n}²  {name:<28} {statistics.median(times):6.1f} ms  {len(data) / 1024:6.0f} KiB"
            )


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:
        pass


def _first_paint(page) -> float | None:
    found = page.evaluate(
        "() => performance.getEntriesByName('first-contentful-paint').map((e) => e.startTime)"
    )
    return found[0] if found else None


def bench_browser(user, volume, runs: int) -> None:
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import Client
    from django.urls import reverse

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("\nbrowser: Playwright is not installed; skipped")
        return
    if not Path(CHROMIUM).exists():
        print(f"\nbrowser: {CHROMIUM} is missing; skipped")
        return
    server = make_server(
        "127.0.0.1", 0, WSGIHandler(), server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    page_url = f"{base}{reverse('viewer:page', args=[volume.pk])}"
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    shape = "×".join(str(s) for s in volume.shape)
    with sync_playwright() as playwright:
        for setup, args in BROWSER_SETUPS.items():
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
            marks, blank = [], []
            for _ in range(runs):
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                context.add_cookies(
                    [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": base}]
                )
                page = context.new_page()
                page.goto(page_url)
                page.wait_for_function(VIEWER_DONE, timeout=60_000)
                marks.append(page.evaluate(FIRST_SLICE_TIMES))
                context.close()
                context = browser.new_context()
                page = context.new_page()
                page.goto(BLANK_PAGE)
                page.wait_for_function(
                    "() => performance.getEntriesByName('first-contentful-paint').length > 0"
                )
                blank.append(_first_paint(page))
                context.close()
            browser.close()
            _print_browser_marks(f"{shape} volume, {setup}", marks, blank)
    server.shutdown()


def _print_browser_marks(title: str, marks: list[dict], blank: list[float]) -> None:
    print(f"\nbrowser, {title}, cold cache, loopback, headless Chromium:")
    print(f"  median over {len(marks)} loads, ms after navigation start (max in brackets)")
    print(f"  {'blank page: first paint':<32} {statistics.median(blank):6.0f}  ({max(blank):.0f})")
    for key, name in (
        ("scripts", "page and scripts loaded"),
        ("metadata", "metadata received"),
        ("start", "viewer script starts"),
        ("programs", "slice shader compiled"),
        ("requested", "WebGL's first slice requested"),
        ("slices", "WebGL's first three received"),
        ("fcp", "first contentful paint"),
        ("painted", "first slice painted (element)"),
        ("paintedAll", "three slices painted"),
        ("drawn", "script saw the first slice"),
        ("quick", "script saw three slices"),
        ("gl", "first WebGL slice drawn"),
        ("handover", "WebGL shows every view"),
        ("complete", "all views at their level"),
    ):
        values = [m[key] for m in marks if m.get(key) is not None]
        if values:  # WebGL's marks exist only where the browser offers WebGL2
            print(f"  {name:<32} {statistics.median(values):6.0f}  ({max(values):.0f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="512³ only (skip the 4 GiB 1024³ volume)"
    )
    parser.add_argument("--repeats", type=int, default=40, help="requests per axis and format")
    parser.add_argument("--browser-runs", type=int, default=5)
    parser.add_argument(
        "--browser-only", action="store_true", help="512³ only, and only the browser's timings"
    )
    parser.add_argument(
        "--workdir", type=Path, help="keep the files here (default: a temporary folder)"
    )
    args = parser.parse_args()
    sizes = [512] if args.quick or args.browser_only else [512, 1024]
    with tempfile.TemporaryDirectory(prefix="nanoscope-viewer-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        setup_django(workdir)
        user, volumes = make_records(sizes, workdir)
        if not args.browser_only:
            bench_endpoint(user, volumes, args.repeats)
            bench_png(volumes)
        bench_browser(user, volumes[512], args.browser_runs)


if __name__ == "__main__":
    main()
