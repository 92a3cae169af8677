// The volume viewer: three linked orthogonal slice views and a 3-D preview on one WebGL2
// canvas, a 2-D canvas above it for crosshairs, labels and measurements, and the side
// panel (read-out, window/level, overlays, time points, line profile).

import { COLOUR_MAPS, colourMapBytes, hexToRgb, rgbaTable } from "./gl.js";
import { AXIS_NAMES, VolumeSource, planeDims, sampleAt } from "./data.js";
import { MipRenderer } from "./mip.js";
import { QuickSlices } from "./quick_slices.js";
import { SliceRenderer } from "./slice_renderer.js";
import { readHash, writeHash } from "./url_state.js";
import { HistogramWidget, drawProfile, formatNumber } from "./widgets.js";

const config = JSON.parse(document.getElementById("viewer-config").textContent);
const $ = (id) => document.getElementById(id);

const BASE_MAX_SIDE = 512; // a whole slice is fetched up to this size, tiles beyond
const TILE = 256;
const COARSE_MAX_SIDE = 160; // the first, quick slice of a large volume
const QUICK_WAIT_MS = 250; // WebGL starts after the first PNG slices, or after this
const PREVIEW_SIDE = 128;
const BACKGROUND = [0.055, 0.063, 0.078];
const CLASS_COLOURS = {
  quiescent: "#d9d9d9",
  formed: "#ff9f1c",
  resorbed: "#a855f7",
  // A morphometry's segmentation (analysis.measurement.StaticFigures.LABEL_NAMES).
  "trabecular bone": "#ffd166",
  "cortical bone": "#ef476f",
  marrow: "#118ab2",
  "other bone": "#8d99ae",
};
const CLASS_OPACITY = {
  quiescent: 0.25,
  formed: 0.75,
  resorbed: 0.75,
  "trabecular bone": 0.6,
  "cortical bone": 0.6,
  marrow: 0.35,
  "other bone": 0.5,
};
const SPARE_COLOURS = ["#00c2ff", "#ff4d6d", "#7cff6b", "#ffd23f", "#c77dff", "#ff8fab"];

const VIEWS = [
  { name: "Axial", axis: 0, flip: false, colour: "#ff5a5f" },
  { name: "Coronal", axis: 1, flip: true, colour: "#3ecf8e" },
  { name: "Sagittal", axis: 2, flip: true, colour: "#f7c948" },
];

function status(text, isError = false) {
  const el = $("viewer-status");
  el.textContent = text;
  el.classList.toggle("error", isError);
}

const glCanvas = $("viewer-gl");
const overlay = $("viewer-overlay");
const quickCanvas = $("viewer-quick");
// Made once the first PNG slices are on screen: in software WebGL (SwiftShader) the
// context and the shaders take a few hundred milliseconds, during which the page paints
// nothing; made first, they would hold back the PNGs too (measured: bench.viewer_slices).
let gl = null;

start().catch((error) => {
  console.error(error);
  status(`Could not open the volume: ${error.message}`, true);
});

function startGl() {
  gl = glCanvas.getContext("webgl2", { preserveDrawingBuffer: true, antialias: false });
  if (!gl) {
    $("viewer-nogl").hidden = false;
    $("viewer-stage").classList.add("unavailable");
    status("WebGL2 is not available: the viewer cannot draw.", true);
  }
  return gl;
}

async function start() {
  performance.mark("nanoscope:start");
  status("Loading volume…");
  const A = await new VolumeSource(config.volume, config.urls.data).load();
  const meta = A.meta;
  // The volume's own labels are shown at first; labels kept elsewhere (the newest
  // morphometry's segmentation) are offered in the overlay list.
  const ownLabels = Object.keys(meta.labels);
  for (const o of config.overlays || []) {
    if (!meta.labels[o.name]) A.addLabels(o.name, o.volume, o.classes);
  }
  let sliceRenderer = null; // compiled at the first frame, after its slices are requested
  let mip = null; // the WebGL parts, made once the first slices are on screen
  let lut = null;
  let palette = null;

  // ---- state -------------------------------------------------------------------
  const hist = meta.histogram;
  const s = {
    p: [0, 1, 2].map((d) => A.world(d, Math.floor(A.n0[d] / 2))),
    lo: hist.p01,
    hi: hist.p99 > hist.p01 ? hist.p99 : hist.p01 + 1,
    cmap: "grey",
    overlay: ownLabels[0] || "",
    classes: {},
    compare: 0,
    swipe: 0.5,
    tool: "navigate",
    line: null,
    camera: { yaw: 30, pitch: -20, zoom: 0.6 },
    views: VIEWS.map((v) => ({ ...v, centre: [0, 0], zoom: 0, rect: null, shown: {}, last: {} })),
  };
  const saved = readHash(location.hash);
  if (saved.p) s.p = saved.p;
  if (saved.window) [s.lo, s.hi] = saved.window;
  if (COLOUR_MAPS.includes(saved.cmap)) s.cmap = saved.cmap;
  if (saved.overlay !== undefined && (saved.overlay === "" || meta.labels[saved.overlay])) s.overlay = saved.overlay;
  if (saved.swipe !== undefined) s.swipe = saved.swipe;
  if (saved.camera) s.camera = saved.camera;
  if (saved.line) s.line = saved.line;
  if (saved.views) {
    saved.views.forEach((v, k) => {
      s.views[k].centre = [v[0], v[1]];
      s.views[k].zoom = v[2];
    });
  }
  resetClasses(saved.classes || {});

  let B = null; // the comparison time point
  const others = config.timePoints.filter((t) => !t.current);
  const unitLabel = meta.units === "mgHA/cm3" ? "mgHA/cm³" : "1/cm";
  const calibrated = meta.units === "mgHA/cm3" || !!meta.calibration;

  // ---- layout --------------------------------------------------------------------
  let dpr = 1;
  let cssW = 0;
  let cssH = 0;
  function layout() {
    const box = $("viewer-stage").getBoundingClientRect();
    dpr = window.devicePixelRatio || 1;
    cssW = Math.max(200, Math.floor(box.width));
    cssH = Math.max(200, Math.floor(box.height));
    for (const c of [glCanvas, quickCanvas, overlay]) {
      // Setting a size clears a canvas, even the same size: the first PNGs must stay.
      if (c.width !== Math.round(cssW * dpr)) c.width = Math.round(cssW * dpr);
      if (c.height !== Math.round(cssH * dpr)) c.height = Math.round(cssH * dpr);
      c.style.width = `${cssW}px`;
      c.style.height = `${cssH}px`;
    }
    const w2 = Math.floor(cssW / 2);
    const h2 = Math.floor(cssH / 2);
    const rects = [
      { x: 0, y: 0, w: w2, h: h2 },
      { x: w2, y: 0, w: cssW - w2, h: h2 },
      { x: 0, y: h2, w: w2, h: cssH - h2 },
    ];
    s.views.forEach((v, k) => {
      v.rect = rects[k];
      if (!v.zoom) fit(v);
    });
    s.rect3d = { x: w2, y: h2, w: cssW - w2, h: cssH - h2 };
    requestRender();
  }

  function fit(view) {
    const [dr, dc] = planeDims(view.axis);
    const width = A.n0[dc] * A.v0;
    const height = A.n0[dr] * A.v0;
    view.zoom = 0.92 * Math.min(view.rect.w / width, view.rect.h / height);
    view.centre = [0, 0];
  }

  // ---- geometry ------------------------------------------------------------------
  function toWorld(view, sx, sy) {
    const [dr, dc] = planeDims(view.axis);
    const p = s.p.slice();
    p[dc] = view.centre[0] + (sx - view.rect.x - view.rect.w / 2) / view.zoom;
    p[dr] = view.centre[1] + ((sy - view.rect.y - view.rect.h / 2) / view.zoom) * (view.flip ? -1 : 1);
    return p;
  }

  function toScreen(view, p) {
    const [dr, dc] = planeDims(view.axis);
    return [
      view.rect.x + view.rect.w / 2 + (p[dc] - view.centre[0]) * view.zoom,
      view.rect.y + view.rect.h / 2 + (p[dr] - view.centre[1]) * view.zoom * (view.flip ? -1 : 1),
    ];
  }

  function viewAt(x, y) {
    const inside = (r) => r && x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h;
    if (inside(s.rect3d)) return "3d";
    return s.views.find((v) => inside(v.rect)) || null;
  }

  function clampToVolume(p) {
    return p.map((w, d) => Math.max(A.world(d, 0), Math.min(A.world(d, A.n0[d] - 1), w)));
  }

  /** The pyramid level whose voxels cover about one screen pixel at this zoom. */
  function wantedLevel(source, view) {
    const level = Math.floor(Math.log2(1 / (view.zoom * source.v0)) + 0.15);
    return Math.max(0, Math.min(source.levels - 1, level));
  }

  function baseLevel(source, axis, level) {
    for (let l = level; l < source.levels; l++) {
      if (Math.max(...source.plane(axis, l)) <= BASE_MAX_SIDE) return l;
    }
    return source.levels - 1;
  }

  function coarseLevel(source, axis, from) {
    for (let l = from; l < source.levels; l++) {
      if (Math.max(...source.plane(axis, l)) <= COARSE_MAX_SIDE) return l;
    }
    return source.levels - 1;
  }

  // ---- loading -------------------------------------------------------------------
  let firstSlice = false; // a slice is on screen (a PNG or WebGL's)
  let glFirstSlice = false;
  let sharp = false; // every view shows the level its zoom asks for
  function ready(promise) {
    if (promise.value) return promise.value;
    if (!promise.watched) {
      promise.watched = true;
      promise.then(requestRender, (error) => status(error.message, true));
    }
    return null;
  }

  /** What a view shows of one source now: the base slice, tiles, the label slice. */
  function gather(view, source) {
    const axis = view.axis;
    if (!source.contains(axis, s.p[axis])) return null;
    const level = wantedLevel(source, view);
    const lb = baseLevel(source, axis, level);
    const index = source.index(axis, s.p[axis], lb);
    let base = ready(source.slice(axis, index, lb));
    if (base) view.last[source.id] = base;
    else base = view.last[source.id] && view.last[source.id].axis === axis ? view.last[source.id] : null;
    if (!base) {
      // Nothing drawn yet: a small slice of a coarse level arrives first (progressive).
      const lc = coarseLevel(source, axis, lb);
      if (lc > lb) base = ready(source.slice(axis, source.index(axis, s.p[axis], lc), lc));
    }
    const tiles = [];
    const tileLabels = []; // the label tile of each grey tile (null until loaded)
    const overlaid = s.overlay && source.meta.labels[s.overlay];
    if (level < lb) {
      const [dr, dc] = planeDims(axis);
      const [rows, cols] = source.plane(axis, level);
      const half = [view.rect.h / 2 / view.zoom, view.rect.w / 2 / view.zoom];
      const r = [view.centre[1] - half[0], view.centre[1] + half[0]].map((w) => source.fractional(dr, w, level));
      const c = [view.centre[0] - half[1], view.centre[0] + half[1]].map((w) => source.fractional(dc, w, level));
      const tIndex = source.index(axis, s.p[axis], level);
      for (let r0 = Math.max(0, Math.floor(r[0] / TILE) * TILE); r0 < Math.min(rows, r[1]); r0 += TILE) {
        for (let c0 = Math.max(0, Math.floor(c[0] / TILE) * TILE); c0 < Math.min(cols, c[1]); c0 += TILE) {
          const t = ready(source.tile(axis, tIndex, level, r0, c0, TILE));
          if (t) {
            tiles.push(t);
            tileLabels.push(overlaid ? ready(source.label(s.overlay, axis, tIndex, level, r0, c0, TILE)) : null);
          }
        }
      }
    }
    let label = null;
    if (overlaid) label = ready(source.label(s.overlay, axis, source.index(axis, s.p[axis], lb), lb));
    return { base, tiles, tileLabels, label, level, lb };
  }

  // ---- drawing -------------------------------------------------------------------
  let pending = false;
  function requestRender() {
    if (gl && !pending) {
      pending = true;
      requestAnimationFrame(render);
    }
  }

  function look() {
    return { lo: s.lo, hi: s.hi, lutRow: COLOUR_MAPS.indexOf(s.cmap), lut, palette };
  }

  function setViewport(rect, fromFraction = 0) {
    const x = Math.round((rect.x + fromFraction * rect.w) * dpr);
    const y = Math.round((cssH - rect.y - rect.h) * dpr);
    const w = Math.round(rect.w * (1 - fromFraction) * dpr);
    const h = Math.round(rect.h * dpr);
    gl.viewport(Math.round(rect.x * dpr), y, Math.round(rect.w * dpr), h);
    gl.scissor(x, y, Math.max(0, w), h);
  }

  let drawn3d = ""; // what the 3-D view shows; the buffer is preserved between frames
  function render() {
    pending = false;
    gl.enable(gl.SCISSOR_TEST);
    gl.clearColor(...BACKGROUND, 1);
    const current = look();
    if (!sliceRenderer) {
      // Ask for the first slices before compiling shaders (slow in software WebGL).
      for (const view of s.views) gather(view, A);
      sliceRenderer = new SliceRenderer(gl);
      performance.mark("nanoscope:programs");
    }
    for (const view of s.views) {
      setViewport(view.rect);
      gl.clear(gl.COLOR_BUFFER_BIT);
      const geometry = { centre: view.centre, zoom: view.zoom, flip: view.flip, width: view.rect.w, height: view.rect.h };
      const layers = [[A, 0]];
      if (B) layers.push([B, s.swipe]);
      view.shown = {};
      for (const [source, from] of layers) {
        setViewport(view.rect, from);
        if (from > 0) {
          gl.clearColor(...BACKGROUND, 1);
          gl.clear(gl.COLOR_BUFFER_BIT);
        }
        const got = gather(view, source);
        if (!got || !got.base) continue;
        view.shown[source.id] = got;
        const labels = [got.label, ...got.tileLabels.map((t) => t || got.label)];
        sliceRenderer.draw(geometry, source, [got.base, ...got.tiles], labels, current);
        if (!glFirstSlice && source === A) {
          glFirstSlice = true;
          markFirstSlice();
          performance.mark("nanoscope:gl-first-slice");
          // The 3-D preview waits for the first slices, which matter more.
          setTimeout(() => loadPreview().catch((error) => status(`3-D preview: ${error.message}`, true)));
        }
      }
    }
    if (!quick.done && s.views.every((v) => v.shown[A.id] || !A.contains(v.axis, s.p[v.axis]))) {
      quick.hide(); // WebGL shows every view now
      performance.mark("nanoscope:handover");
    }
    if (glFirstSlice && !sharp && s.views.every((v) => v.shown[A.id] && v.shown[A.id].base.level === v.shown[A.id].lb)) {
      sharp = true;
      performance.mark("nanoscope:slices-complete");
    }
    // Ray marching is the costly part (and slow in software WebGL): redraw the 3-D view
    // only when something it shows has changed.
    const showLabels = !!s.overlay && mip.labelKey === s.overlay;
    const key3d = JSON.stringify([s.camera, s.lo, s.hi, s.cmap, paletteVersion, showLabels, mip.version, s.rect3d, cssW, cssH, dpr]);
    if (key3d !== drawn3d) {
      drawn3d = key3d;
      setViewport(s.rect3d);
      gl.clear(gl.COLOR_BUFFER_BIT);
      mip.draw(s.rect3d.w, s.rect3d.h, s.camera, current, showLabels);
    }
    gl.disable(gl.SCISSOR_TEST);
    drawOverlay();
    updateReadout();
    updateProfile();
    saveHash();
  }

  function niceLength(maxUm) {
    const p = 10 ** Math.floor(Math.log10(maxUm));
    return [5, 2, 1].map((m) => m * p).find((v) => v <= maxUm) || p;
  }

  function drawOverlay() {
    const ctx = overlay.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cssW, cssH);
    ctx.font = "12px system-ui, sans-serif";
    for (const view of s.views) {
      const r = view.rect;
      ctx.save();
      ctx.beginPath();
      ctx.rect(r.x, r.y, r.w, r.h);
      ctx.clip();
      const [dr, dc] = planeDims(view.axis);
      const [cx, cy] = toScreen(view, s.p);
      ctx.lineWidth = 1;
      ctx.globalAlpha = 0.75;
      ctx.strokeStyle = VIEWS[dc].colour;
      ctx.beginPath();
      ctx.moveTo(cx + 0.5, r.y);
      ctx.lineTo(cx + 0.5, cy - 8);
      ctx.moveTo(cx + 0.5, cy + 8);
      ctx.lineTo(cx + 0.5, r.y + r.h);
      ctx.stroke();
      ctx.strokeStyle = VIEWS[dr].colour;
      ctx.beginPath();
      ctx.moveTo(r.x, cy + 0.5);
      ctx.lineTo(cx - 8, cy + 0.5);
      ctx.moveTo(cx + 8, cy + 0.5);
      ctx.lineTo(r.x + r.w, cy + 0.5);
      ctx.stroke();
      ctx.globalAlpha = 1;
      if (B) {
        const x = r.x + s.swipe * r.w;
        ctx.strokeStyle = "#ffffff";
        ctx.lineWidth = 2;
        ctx.beginPath();
        ctx.moveTo(x, r.y);
        ctx.lineTo(x, r.y + r.h);
        ctx.stroke();
        ctx.fillStyle = "rgba(0,0,0,0.55)";
        ctx.fillRect(x - 64, r.y + r.h - 22, 128, 18);
        ctx.fillStyle = "#fff";
        ctx.textAlign = "center";
        ctx.fillText(`day ${config.day ?? "?"}  ◂▸  day ${B.day ?? "?"}`, x, r.y + r.h - 9);
        ctx.textAlign = "left";
      }
      if (s.line && s.line.axis === view.axis) drawLine(ctx, view);
      // Title, slice number and level.
      const got = view.shown[A.id];
      const level = got ? (got.tiles.length ? got.level : got.base.level) : 0;
      const index = A.index(view.axis, s.p[view.axis]);
      ctx.fillStyle = "rgba(10,12,16,0.6)";
      ctx.fillRect(r.x + 6, r.y + 6, 200, 20);
      ctx.fillStyle = view.colour;
      ctx.fillText(view.name, r.x + 12, r.y + 20);
      ctx.fillStyle = "#d4dae3";
      ctx.fillText(`${AXIS_NAMES[view.axis]} ${index + 1}/${A.n0[view.axis]}  ·  level ${level}`, r.x + 74, r.y + 20);
      // Scale bar.
      const length = niceLength((r.w * 0.25) / view.zoom);
      const px = length * view.zoom;
      ctx.fillStyle = "#e8edf3";
      ctx.fillRect(r.x + 12, r.y + r.h - 14, px, 3);
      ctx.fillText(`${length >= 1000 ? `${length / 1000} mm` : `${length} µm`}`, r.x + 12, r.y + r.h - 20);
      ctx.restore();
      ctx.strokeStyle = "#232a35";
      ctx.strokeRect(r.x + 0.5, r.y + 0.5, r.w - 1, r.h - 1);
    }
    const r = s.rect3d;
    ctx.fillStyle = "rgba(10,12,16,0.6)";
    ctx.fillRect(r.x + 6, r.y + 6, 250, 20);
    ctx.fillStyle = "#d4dae3";
    const lvl = mip.volume ? mip.volume.level : "…";
    ctx.fillText(`3-D · maximum intensity · level ${lvl}`, r.x + 12, r.y + 20);
    ctx.strokeStyle = "#232a35";
    ctx.strokeRect(r.x + 0.5, r.y + 0.5, r.w - 1, r.h - 1);
  }

  function drawLine(ctx, view) {
    const a = toScreen(view, s.line.a);
    const b = toScreen(view, s.line.b);
    ctx.strokeStyle = "#ffb347";
    ctx.lineWidth = 2;
    const onSlice = Math.abs(s.line.a[view.axis] - s.p[view.axis]) < A.v0 / 2;
    ctx.setLineDash(onSlice ? [] : [6, 4]);
    ctx.beginPath();
    ctx.moveTo(...a);
    ctx.lineTo(...b);
    ctx.stroke();
    ctx.setLineDash([]);
    for (const q of [a, b]) {
      ctx.beginPath();
      ctx.arc(q[0], q[1], 3, 0, 2 * Math.PI);
      ctx.fillStyle = "#ffb347";
      ctx.fill();
    }
    const text = `${formatNumber(lineLength())} µm`;
    const mx = (a[0] + b[0]) / 2 + 8;
    const my = (a[1] + b[1]) / 2 - 8;
    ctx.fillStyle = "rgba(10,12,16,0.7)";
    ctx.fillRect(mx - 3, my - 13, ctx.measureText(text).width + 6, 17);
    ctx.fillStyle = "#ffb347";
    ctx.fillText(text, mx, my);
  }

  function lineLength() {
    return Math.hypot(...s.line.a.map((v, k) => v - s.line.b[k]));
  }

  // ---- values ----------------------------------------------------------------------
  /** Stored value of source at world point p from what the view shows (finest first). */
  function valueAt(view, source, p) {
    const got = view && view.shown[source.id];
    if (!got) return undefined;
    for (const t of got.tiles) {
      const v = sampleAt(source, t, p);
      if (v !== undefined) return v;
    }
    return sampleAt(source, got.base, p);
  }

  function labelAt(view, source, p) {
    const got = view && view.shown[source.id];
    if (!got) return undefined;
    for (const t of got.tileLabels) {
      const v = t ? sampleAt(source, t, p) : undefined;
      if (v !== undefined) return v;
    }
    return got.label ? sampleAt(source, got.label, p) : undefined;
  }

  let hover = null; // {view, p}
  function updateReadout() {
    const view = hover ? hover.view : s.views[0];
    const p = hover ? hover.p : s.p;
    const inside = [0, 1, 2].every((d) => A.contains(d, p[d]));
    const value = inside ? valueAt(view, A, p) : undefined;
    const el = $("readout-value");
    el.dataset.value = value === undefined ? "" : String(value);
    el.textContent = value === undefined ? "–" : `${formatNumber(value)} ${unitLabel}`;
    const rho = value === undefined ? null : A.density(value);
    const dens = $("readout-density");
    dens.dataset.value = rho === null ? "" : String(rho);
    dens.textContent = rho === null ? (calibrated ? "–" : "no calibration") : `${formatNumber(rho)} mgHA/cm³`;
    $("readout-position").textContent = `x ${formatNumber(p[2])}  y ${formatNumber(p[1])}  z ${formatNumber(p[0])} µm`;
    const idx = [0, 1, 2].map((d) => A.index(d, p[d]));
    $("readout-voxel").textContent = inside ? `voxel (z, y, x) = (${idx.join(", ")})` : "outside the volume";
    const label = inside ? labelAt(view, A, p) : undefined;
    const cls = label !== undefined ? labelClasses().find((c) => c.value === label) : null;
    $("readout-label").textContent = label === undefined ? "" : cls ? cls.name : label === 0 ? "background" : `label ${label}`;
    if (B) {
      const vb = [0, 1, 2].every((d) => B.contains(d, p[d])) ? valueAt(view, B, p) : undefined;
      $("readout-compare").textContent = vb === undefined ? "" : `day ${B.day ?? "?"}: ${formatNumber(vb)} ${unitLabel}`;
    } else {
      $("readout-compare").textContent = "";
    }
  }

  function updateProfile() {
    const box = $("profile-distance");
    if (!s.line) {
      box.textContent = "–";
      box.dataset.um = "";
      drawProfile($("profile-canvas"), [], [], unitLabel);
      return;
    }
    const length = lineLength();
    box.textContent = `${formatNumber(length)} µm`;
    box.dataset.um = String(length);
    const view = s.views[s.line.axis];
    const got = view.shown[A.id];
    const step = got ? A.v0 * 2 ** (got.tiles.length ? got.level : got.base.level) : A.v0;
    const n = Math.max(2, Math.min(2000, Math.ceil(length / step) + 1));
    const distances = [];
    const values = [];
    for (let k = 0; k < n; k++) {
      const f = k / (n - 1);
      const q = s.line.a.map((v, d) => v + f * (s.line.b[d] - v));
      q[view.axis] = s.p[view.axis];
      const v = valueAt(view, A, q);
      distances.push(f * length);
      values.push(v === undefined ? undefined : calibrated ? A.density(v) : v);
    }
    drawProfile($("profile-canvas"), distances, values, calibrated ? "mgHA/cm³" : unitLabel);
  }

  // ---- window/level, colour maps ---------------------------------------------------
  const histogram = new HistogramWidget($("histogram"), hist, (lo, hi) => setWindow(lo, hi));
  function setWindow(lo, hi) {
    if (!(Number.isFinite(lo) && Number.isFinite(hi) && hi > lo)) return;
    s.lo = lo;
    s.hi = hi;
    $("window-lo").value = Number(lo.toPrecision(5));
    $("window-hi").value = Number(hi.toPrecision(5));
    histogram.draw(lo, hi, unitLabel);
    requestRender();
  }
  const presets = [
    ["auto", "Auto (0.5–99.5 %)", () => [hist.p01, hist.p99]],
    ["full", "Full range", () => [hist.min, hist.max]],
  ];
  if (calibrated) {
    const stored = (rho) => A.storedOfDensity(rho);
    presets.push(["bone", "Bone (0–1400 mgHA/cm³)", () => [stored(0), stored(1400)]]);
    presets.push(["mineral", "Mineralised (400–1400)", () => [stored(400), stored(1400)]]);
    presets.push(["soft", "Soft tissue (−200–400)", () => [stored(-200), stored(400)]]);
  }
  const presetBox = $("window-presets");
  for (const [key, name, range] of presets) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = name;
    button.dataset.preset = key;
    button.addEventListener("click", () => setWindow(...range().sort((a, b) => a - b)));
    presetBox.append(button);
  }
  $("window-lo").addEventListener("change", (e) => setWindow(Number(e.target.value), s.hi));
  $("window-hi").addEventListener("change", (e) => setWindow(s.lo, Number(e.target.value)));
  $("window-unit").textContent = unitLabel;
  const cmapSelect = $("colour-map");
  cmapSelect.value = s.cmap;
  cmapSelect.addEventListener("change", () => {
    s.cmap = cmapSelect.value;
    requestRender();
  });

  // ---- overlays ------------------------------------------------------------------
  function labelClasses() {
    return s.overlay && meta.labels[s.overlay] ? meta.labels[s.overlay].classes : [];
  }

  function resetClasses(saved) {
    s.classes = {};
    labelClasses().forEach((c, k) => {
      s.classes[c.value] = saved[c.value] || {
        on: true,
        colour: CLASS_COLOURS[c.name] || SPARE_COLOURS[k % SPARE_COLOURS.length],
        opacity: CLASS_OPACITY[c.name] ?? 0.6,
      };
    });
  }

  let paletteVersion = 0;
  function updatePalette() {
    if (!gl) return; // made once the context exists
    paletteVersion += 1;
    const bytes = new Uint8Array(256 * 4);
    for (const [value, c] of Object.entries(s.classes)) {
      const [r, g, b] = hexToRgb(c.colour);
      bytes.set([r, g, b, c.on ? Math.round(255 * c.opacity) : 0], Number(value) * 4);
    }
    palette = rgbaTable(gl, 1, bytes, palette);
  }

  function buildOverlayPanel() {
    const select = $("overlay-select");
    select.replaceChildren(new Option("none", ""));
    for (const name of Object.keys(meta.labels)) select.append(new Option(name, name));
    select.value = s.overlay;
    const table = $("overlay-classes");
    table.replaceChildren();
    for (const c of labelClasses()) {
      const st = s.classes[c.value];
      const row = document.createElement("tr");
      row.innerHTML = `<td><input type="checkbox" aria-label="show ${c.name}"></td>
        <td><input type="color" aria-label="colour of ${c.name}"></td>
        <td class="cls-name">${c.name}</td>
        <td><input type="range" min="0" max="1" step="0.05" aria-label="opacity of ${c.name}"></td>`;
      const [on, colour, opacity] = row.querySelectorAll("input");
      on.checked = st.on;
      on.dataset.class = c.name;
      colour.value = st.colour;
      opacity.value = st.opacity;
      on.addEventListener("change", () => {
        st.on = on.checked;
        updatePalette();
        requestRender();
      });
      colour.addEventListener("input", () => {
        st.colour = colour.value;
        updatePalette();
        requestRender();
      });
      opacity.addEventListener("input", () => {
        st.opacity = Number(opacity.value);
        updatePalette();
        requestRender();
      });
      table.append(row);
    }
    $("overlay-empty").hidden = Object.keys(meta.labels).length > 0;
  }
  $("overlay-select").addEventListener("change", (e) => {
    s.overlay = e.target.value;
    resetClasses({});
    buildOverlayPanel();
    updatePalette();
    loadPreviewLabels();
    requestRender();
  });

  // ---- 3-D preview ----------------------------------------------------------------
  async function loadPreview() {
    const preview = await A.preview(PREVIEW_SIDE);
    mip.setVolume(preview, A.v0 * 2 ** preview.level);
    requestRender();
    loadPreviewLabels();
  }

  async function loadPreviewLabels() {
    const name = s.overlay;
    if (!mip || !name || !meta.labels[name] || mip.labelKey === name) return;
    const labels = await A.preview(PREVIEW_SIDE, name);
    if (s.overlay === name) {
      mip.setLabels(labels, name);
      requestRender();
    }
  }

  // ---- time points ------------------------------------------------------------------
  function buildTimePoints() {
    const list = $("time-points");
    list.replaceChildren();
    for (const t of config.timePoints) {
      const item = document.createElement("li");
      const link = document.createElement(t.current ? "strong" : "a");
      link.textContent = `day ${t.day ?? "?"} · ${t.date}`;
      if (!t.current) {
        link.href = config.urls.page.replace("{id}", t.id);
        link.addEventListener("click", (e) => {
          e.preventDefault();
          location.href = `${link.href}${location.hash}`;
        });
      }
      item.append(link);
      item.append(` ${t.shape.join("×")} · ${t.voxel_size_um} µm`);
      list.append(item);
    }
    const select = $("compare-select");
    select.replaceChildren(new Option("no comparison", ""));
    for (const t of others) select.append(new Option(`day ${t.day ?? "?"} · ${t.date}`, t.id));
    $("compare-box").hidden = others.length === 0;
  }

  async function setCompare(id) {
    s.compare = id || 0;
    $("compare-select").value = id ? String(id) : "";
    $("swipe").disabled = !id;
    if (!id) {
      B = null;
      requestRender();
      return;
    }
    const t = others.find((o) => o.id === id);
    if (!t) return;
    status(`Loading day ${t.day} for comparison…`);
    const source = await new VolumeSource(id, config.urls.data).load();
    source.day = t.day;
    if (s.compare === id) {
      B = source;
      status("");
      requestRender();
    }
  }
  $("compare-select").addEventListener("change", (e) => setCompare(Number(e.target.value)));
  $("swipe").addEventListener("input", (e) => {
    s.swipe = Number(e.target.value);
    requestRender();
  });

  // ---- interaction -------------------------------------------------------------------
  function setTool(tool) {
    s.tool = tool;
    for (const b of document.querySelectorAll("[data-tool]")) b.setAttribute("aria-pressed", String(b.dataset.tool === tool));
    overlay.dataset.tool = tool;
  }
  for (const b of document.querySelectorAll("[data-tool]")) b.addEventListener("click", () => setTool(b.dataset.tool));

  function moveCursor(p) {
    s.p = clampToVolume(p);
    requestRender();
  }

  let drag = null;
  overlay.addEventListener("contextmenu", (e) => e.preventDefault());
  overlay.addEventListener("pointerdown", (event) => {
    const x = event.offsetX;
    const y = event.offsetY;
    const view = viewAt(x, y);
    if (!view) return;
    overlay.setPointerCapture(event.pointerId);
    if (view === "3d") {
      drag = { kind: "rotate", x, y, yaw: s.camera.yaw, pitch: s.camera.pitch };
      return;
    }
    const p = toWorld(view, x, y);
    const nearSwipe = B && Math.abs(x - (view.rect.x + s.swipe * view.rect.w)) < 6;
    const kind = event.button === 1 ? "pan" : event.button === 2 ? "window" : nearSwipe ? "swipe" : s.tool;
    drag = { kind, view, x, y, centre: view.centre.slice(), lo: s.lo, hi: s.hi };
    if (kind === "navigate") moveCursor(p);
    if (kind === "line") {
      s.line = { axis: view.axis, a: p, b: p.slice() };
      requestRender();
    }
  });
  overlay.addEventListener("pointermove", (event) => {
    const x = event.offsetX;
    const y = event.offsetY;
    const view = viewAt(x, y);
    hover = view && view !== "3d" ? { view, p: toWorld(view, x, y) } : null;
    if (!drag) {
      updateReadout(); // hovering changes only the read-out, not the pictures
      return;
    }
    const dx = x - drag.x;
    const dy = y - drag.y;
    const v = drag.view;
    if (drag.kind === "rotate") {
      s.camera.yaw = drag.yaw + dx * 0.5;
      s.camera.pitch = Math.max(-89, Math.min(89, drag.pitch + dy * 0.5));
    } else if (drag.kind === "navigate") {
      moveCursor(toWorld(v, Math.max(v.rect.x, Math.min(x, v.rect.x + v.rect.w - 1)), Math.max(v.rect.y, Math.min(y, v.rect.y + v.rect.h - 1))));
    } else if (drag.kind === "pan") {
      v.centre = [drag.centre[0] - dx / v.zoom, drag.centre[1] - (dy / v.zoom) * (v.flip ? -1 : 1)];
    } else if (drag.kind === "window") {
      const range = hist.max - hist.min || 1;
      const width = Math.max(range * 1e-3, drag.hi - drag.lo + (dx / 300) * range);
      const centre = (drag.lo + drag.hi) / 2 - (dy / 300) * range;
      setWindow(centre - width / 2, centre + width / 2);
    } else if (drag.kind === "swipe") {
      s.swipe = Math.max(0, Math.min(1, (x - v.rect.x) / v.rect.w));
      $("swipe").value = s.swipe;
    } else if (drag.kind === "line") {
      s.line.b = toWorld(v, x, y);
      s.line.b[v.axis] = s.line.a[v.axis];
    }
    requestRender();
  });
  overlay.addEventListener("pointerup", () => {
    drag = null;
  });
  overlay.addEventListener("pointerleave", () => {
    hover = null;
    updateReadout();
  });
  overlay.addEventListener(
    "wheel",
    (event) => {
      event.preventDefault();
      const view = viewAt(event.offsetX, event.offsetY);
      if (!view) return;
      const sign = Math.sign(event.deltaY);
      if (view === "3d") {
        s.camera.zoom = Math.max(0.3, Math.min(8, s.camera.zoom * (sign > 0 ? 1 / 1.15 : 1.15)));
      } else if (event.ctrlKey || event.metaKey || s.tool === "pan") {
        zoomAt(view, event.offsetX, event.offsetY, sign > 0 ? 1 / 1.2 : 1.2);
      } else {
        step(view, -sign * (event.shiftKey ? 10 : 1));
      }
      requestRender();
    },
    { passive: false },
  );

  function zoomAt(view, x, y, factor) {
    const before = toWorld(view, x, y);
    view.zoom = Math.max(1e-4, Math.min(200, view.zoom * factor));
    const after = toWorld(view, x, y);
    const [dr, dc] = planeDims(view.axis);
    view.centre = [view.centre[0] + before[dc] - after[dc], view.centre[1] + before[dr] - after[dr]];
  }

  function step(view, n) {
    const p = s.p.slice();
    p[view.axis] += n * A.v0;
    moveCursor(p);
  }

  window.addEventListener("keydown", (event) => {
    if (event.target.closest("input, select, textarea")) return;
    const view = (hover && hover.view) || s.views[0];
    const keys = {
      ArrowUp: () => step(view, 1),
      ArrowDown: () => step(view, -1),
      PageUp: () => step(view, 10),
      PageDown: () => step(view, -10),
      "+": () => zoomAt(view, view.rect.x + view.rect.w / 2, view.rect.y + view.rect.h / 2, 1.25),
      "-": () => zoomAt(view, view.rect.x + view.rect.w / 2, view.rect.y + view.rect.h / 2, 0.8),
      f: () => s.views.forEach(fit),
      n: () => setTool("navigate"),
      p: () => setTool("pan"),
      w: () => setTool("window"),
      l: () => setTool("line"),
      s: () => screenshot(),
    };
    const action = keys[event.key];
    if (action) {
      event.preventDefault();
      action();
      requestRender();
    }
  });

  $("fit-button").addEventListener("click", () => {
    s.views.forEach(fit);
    requestRender();
  });
  $("clear-line").addEventListener("click", () => {
    s.line = null;
    requestRender();
  });

  function screenshot() {
    render();
    const out = document.createElement("canvas");
    out.width = glCanvas.width;
    out.height = glCanvas.height;
    const ctx = out.getContext("2d");
    ctx.drawImage(glCanvas, 0, 0);
    ctx.drawImage(overlay, 0, 0);
    out.toBlob((blob) => {
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      const stamp = new Date().toISOString().replace(/[:.]/g, "-");
      link.download = `nanoscope-volume-${config.volume}-${stamp}.png`;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    }, "image/png");
  }
  $("screenshot-button").addEventListener("click", screenshot);

  let hashTimer = null;
  function saveHash() {
    clearTimeout(hashTimer);
    hashTimer = setTimeout(() => history.replaceState(null, "", writeHash(s)), 250);
  }

  // ---- the first slices, before WebGL ----------------------------------------------------
  function markFirstSlice() {
    if (!firstSlice) {
      firstSlice = true;
      performance.mark("nanoscope:first-slice");
    }
  }

  /** Each view's first slice as WebGL will first draw it: level, index and window. */
  function quickPlans() {
    // Without a window of its own the server applies the same default (0.5–99.5 %).
    const windowed = saved.window ? `&lo=${s.lo}&hi=${s.hi}` : "";
    return s.views
      .filter((view) => A.contains(view.axis, s.p[view.axis]))
      .map((view) => {
        const axis = view.axis;
        const level = coarseLevel(A, axis, baseLevel(A, axis, wantedLevel(A, view)));
        const [dr, dc] = planeDims(axis);
        const [h0, h1] = A.edges(dc, level);
        const [v0, v1] = A.edges(dr, level);
        return {
          url: A.sliceUrl(axis, A.index(axis, s.p[axis], level), level, "png") + windowed,
          rect: view.rect,
          centre: view.centre,
          zoom: view.zoom,
          flip: view.flip,
          world: [h0, v0, h1, v1],
        };
      });
  }

  const quick = new QuickSlices(quickCanvas, $("viewer-first"), BACKGROUND);
  function showQuickSlices() {
    const plans = quick.served ? null : quickPlans();
    const expected = plans ? plans.length : VIEWS.length;
    let drawn = 0;
    const onDrawn = () => {
      markFirstSlice();
      drawn += 1;
      if (drawn === expected) performance.mark("nanoscope:quick-slices");
    };
    const shown = plans ? quick.show(plans, COLOUR_MAPS.indexOf(s.cmap), dpr, onDrawn) : quick.whenServed(onDrawn);
    // WebGL starts when they are drawn, or after QUICK_WAIT_MS if the server is slow.
    return Promise.race([shown, new Promise((resolve) => setTimeout(resolve, QUICK_WAIT_MS))]);
  }

  // ---- go -----------------------------------------------------------------------------
  buildOverlayPanel();
  buildTimePoints();
  setTool("navigate");
  layout();
  await showQuickSlices();
  // Let the browser put the PNGs on screen before WebGL's start-up holds the page.
  await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve)));
  setWindow(s.lo, s.hi); // after the slices: the histogram's canvas is slow to start
  // WebGL's own first slices download while its context starts and its shaders compile.
  for (const view of s.views) gather(view, A);
  if (!startGl()) return; // the PNG slices stay on screen beside the message
  mip = new MipRenderer(gl);
  lut = rgbaTable(gl, 3, colourMapBytes());
  updatePalette();
  new ResizeObserver(layout).observe($("viewer-stage"));
  layout();
  status("");
  if (saved.compare && others.some((o) => o.id === saved.compare)) setCompare(saved.compare);

  // For tests and scripts: where a world point lies on screen, and the state.
  window.nanoscope = {
    state: s,
    source: A,
    toScreen: (name, p) => toScreen(s.views.find((v) => v.name === name), p),
    world: (d, i) => A.world(d, i),
    setCursor: (p) => moveCursor(p),
    firstSliceDrawn: () => firstSlice,
    render,
  };
}
