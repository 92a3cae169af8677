// Two small canvas widgets: the histogram with its window handles, and the line profile.

function fitCanvas(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const { width, height } = canvas.getBoundingClientRect();
  if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return { ctx, width, height };
}

export function formatNumber(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-2)) return v.toExponential(2);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/**
 * Histogram of the volume (log counts) with the window [lo, hi] drawn on it; dragging a
 * handle moves that bound, dragging inside moves the window.  onChange(lo, hi).
 */
export class HistogramWidget {
  constructor(canvas, histogram, onChange) {
    this.canvas = canvas;
    this.h = histogram;
    this.onChange = onChange;
    this.lo = histogram.p01;
    this.hi = histogram.p99;
    const edges = histogram.edges;
    this.min = edges[0];
    this.max = edges[edges.length - 1];
    let drag = null;
    canvas.addEventListener("pointerdown", (event) => {
      const x = this.valueAt(event.offsetX);
      const tol = (this.max - this.min) * 0.03;
      drag = Math.abs(x - this.lo) < tol ? "lo" : Math.abs(x - this.hi) < tol ? "hi" : x > this.lo && x < this.hi ? { at: x, lo: this.lo, hi: this.hi } : "near";
      if (drag === "near") drag = Math.abs(x - this.lo) < Math.abs(x - this.hi) ? "lo" : "hi";
      canvas.setPointerCapture(event.pointerId);
      this.dragTo(drag, x);
    });
    canvas.addEventListener("pointermove", (event) => {
      if (drag) this.dragTo(drag, this.valueAt(event.offsetX));
    });
    canvas.addEventListener("pointerup", () => {
      drag = null;
    });
  }

  valueAt(px) {
    const { width } = this.canvas.getBoundingClientRect();
    return this.min + (px / width) * (this.max - this.min);
  }

  dragTo(drag, x) {
    let { lo, hi } = this;
    if (drag === "lo") lo = Math.min(x, hi - (this.max - this.min) * 1e-3);
    else if (drag === "hi") hi = Math.max(x, lo + (this.max - this.min) * 1e-3);
    else {
      lo = drag.lo + x - drag.at;
      hi = drag.hi + x - drag.at;
    }
    this.onChange(lo, hi);
  }

  draw(lo, hi, unitLabel) {
    this.lo = lo;
    this.hi = hi;
    const { ctx, width, height } = fitCanvas(this.canvas);
    ctx.clearRect(0, 0, width, height);
    const counts = this.h.counts;
    const top = Math.log1p(Math.max(...counts));
    const plotH = height - 14;
    const px = (v) => ((v - this.min) / (this.max - this.min)) * width;
    ctx.fillStyle = "rgba(90, 160, 255, 0.16)";
    ctx.fillRect(px(lo), 0, px(hi) - px(lo), plotH);
    ctx.fillStyle = "#9aa7b8";
    const bw = width / counts.length;
    counts.forEach((c, k) => {
      const bh = (Math.log1p(c) / top) * (plotH - 2);
      ctx.fillRect(k * bw, plotH - bh, Math.max(1, bw - 0.3), bh);
    });
    ctx.strokeStyle = "rgba(90, 160, 255, 0.9)";
    ctx.beginPath();
    ctx.moveTo(px(lo), plotH);
    ctx.lineTo(px(hi), 0);
    ctx.stroke();
    ctx.fillStyle = "#5aa0ff";
    for (const v of [lo, hi]) ctx.fillRect(px(v) - 1.5, 0, 3, plotH);
    ctx.fillStyle = "#8390a2";
    ctx.font = "10px system-ui, sans-serif";
    ctx.textBaseline = "bottom";
    ctx.fillText(formatNumber(this.min), 2, height);
    ctx.textAlign = "right";
    ctx.fillText(`${formatNumber(this.max)} ${unitLabel}`, width - 2, height);
    ctx.textAlign = "left";
  }
}

/** Line profile: values (calibrated where possible) against distance along the line (µm). */
export function drawProfile(canvas, distances, values, unitLabel) {
  const { ctx, width, height } = fitCanvas(canvas);
  ctx.clearRect(0, 0, width, height);
  ctx.font = "10px system-ui, sans-serif";
  ctx.fillStyle = "#8390a2";
  const good = values.filter((v) => v !== undefined && !Number.isNaN(v));
  if (good.length < 2) {
    ctx.fillText("Draw a line with the line tool (L).", 6, height / 2);
    return;
  }
  let lo = Math.min(...good);
  let hi = Math.max(...good);
  if (hi === lo) hi = lo + 1;
  const pad = { l: 40, r: 6, t: 6, b: 16 };
  const w = width - pad.l - pad.r;
  const h = height - pad.t - pad.b;
  const total = distances[distances.length - 1] || 1;
  ctx.strokeStyle = "#2b3442";
  ctx.strokeRect(pad.l, pad.t, w, h);
  ctx.strokeStyle = "#ffb347";
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  let started = false;
  values.forEach((v, k) => {
    if (v === undefined || Number.isNaN(v)) return;
    const x = pad.l + (distances[k] / total) * w;
    const y = pad.t + h - ((v - lo) / (hi - lo)) * h;
    if (started) ctx.lineTo(x, y);
    else ctx.moveTo(x, y);
    started = true;
  });
  ctx.stroke();
  ctx.lineWidth = 1;
  ctx.textAlign = "right";
  ctx.textBaseline = "top";
  ctx.fillText(formatNumber(hi), pad.l - 3, pad.t);
  ctx.textBaseline = "bottom";
  ctx.fillText(formatNumber(lo), pad.l - 3, pad.t + h);
  ctx.fillText(`${formatNumber(total)} µm`, width - pad.r, height);
  ctx.textAlign = "left";
  ctx.fillText(`0 · ${unitLabel}`, pad.l, height);
}
