/* The Analysis page's longitudinal plot: one bone parameter per cohort over study days.
 *
 * Reads the JSON the server embedded (#analysis-data: points, one per animal and
 * session; summary, n / mean / SEM per cohort and day) and draws a hand-written SVG:
 * thin lines per animal, mean ± SEM per cohort (error bars), a legend.  Every mark
 * carries its attributes (no stylesheet), so the PNG export (SVG → image → canvas →
 * toBlob) looks like the page.  Click a point: its scan session; Alt-click: the
 * volume in the viewer.
 */
(function () {
  "use strict";

  const NS = "http://www.w3.org/2000/svg";
  const W = 960, H = 500;
  const M = { left: 76, right: 24, top: 56, bottom: 58 };
  const FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";
  const FALLBACK = ["#1d64c8", "#c2410c", "#0f766e", "#7e22ce", "#a16207", "#be123c"];

  const source = document.getElementById("analysis-data");
  const host = document.getElementById("analysis-plot");
  const form = document.getElementById("analysis-query");
  if (form) {
    form.addEventListener("change", () => form.submit());
  }
  if (!source || !host) return;
  const data = JSON.parse(source.textContent);

  function el(name, attrs, parent, text) {
    const node = document.createElementNS(NS, name);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  /* Tick step 1, 2 or 5 × 10^k nearest to span / count (Heckbert 1990), as charts.py. */
  function niceStep(span, count) {
    const raw = span / count;
    const magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
    const mantissa = raw / magnitude;
    if (mantissa < 1.5) return magnitude;
    if (mantissa < 3) return 2 * magnitude;
    if (mantissa < 7) return 5 * magnitude;
    return 10 * magnitude;
  }

  function ticks(lo, hi, count) {
    const step = niceStep(hi - lo, count);
    const out = [];
    for (let k = Math.ceil(lo / step - 1e-9); k <= Math.floor(hi / step + 1e-9); k++) {
      out.push(Number((k * step).toPrecision(12)));
    }
    return out;
  }

  function extent(values, minimumSpan) {
    let lo = Math.min(...values), hi = Math.max(...values);
    if (!(hi > lo)) { lo -= minimumSpan / 2; hi += minimumSpan / 2; }
    const pad = (hi - lo) * 0.07;
    return [lo - pad, hi + pad];
  }

  function fmt(value) {
    const a = Math.abs(value);
    const text = a !== 0 && (a < 0.01 || a >= 1e5)
      ? value.toExponential(2) : Number(value.toPrecision(4)).toString();
    return text.replace("-", "\u2212"); // a typographic minus
  }

  const mode = data.mode;
  const valueOf = (p) => (mode === "absolute" ? p.value : p[mode]);
  const unit = mode === "change_pct" ? "%" : data.unit;
  const yTitle = (mode === "absolute" ? data.symbol : `Δ ${data.symbol} from baseline`) +
    (unit ? ` (${unit})` : "");
  const points = data.points.filter((p) => valueOf(p) !== null);
  const summary = data.summary.filter((s) => s.mean !== null);

  const css = getComputedStyle(document.documentElement);
  const colour = {};
  data.cohorts.forEach((name, i) => {
    colour[name] = css.getPropertyValue(`--g${i % 6}`).trim() || FALLBACK[i % FALLBACK.length];
  });
  const dodge = {};
  const spread = Math.min(7, 28 / Math.max(1, data.cohorts.length));
  data.cohorts.forEach((name, i) => { dodge[name] = (i - (data.cohorts.length - 1) / 2) * spread; });

  const days = points.map((p) => p.day).concat(summary.map((s) => s.day));
  const values = points.map(valueOf);
  for (const s of summary) {
    const sem = s.sem === null ? 0 : s.sem;
    values.push(s.mean - sem, s.mean + sem);
  }
  if (mode !== "absolute") values.push(0);
  const [x0, x1] = extent(days, 2);
  const [y0, y1] = extent(values, 1);
  const left = M.left, right = W - M.right, top = M.top, bottom = H - M.bottom;
  const sx = (d) => left + ((d - x0) / (x1 - x0)) * (right - left);
  const sy = (v) => bottom - ((v - y0) / (y1 - y0)) * (bottom - top);

  const svg = el("svg", {
    xmlns: NS, viewBox: `0 0 ${W} ${H}`, width: W, height: H, id: "analysis-svg",
    role: "img", "font-family": FONT, "font-size": 12, fill: "#1b2330",
    "aria-label": `${yTitle} per cohort over study days`,
  });
  el("rect", { x: 0, y: 0, width: W, height: H, fill: "#ffffff" }, svg);
  host.appendChild(svg); // in the document from the start: the legend measures its labels

  // Title and legend.
  el("text", { x: left, y: 22, "font-size": 15, "font-weight": 600 }, svg,
    `${data.symbol} · ${data.site}`);
  el("text", { x: left, y: 40, "font-size": 11.5, fill: "#627085" }, svg,
    `${data.study} · mean ± SEM per cohort; thin lines: animals`);
  // Legend at the top right: laid out right to left with the labels' measured widths.
  const legend = el("g", { class: "legend" }, svg);
  let lx = right;
  for (const name of [...data.cohorts].reverse()) {
    const item = el("g", { class: "legend-item", "data-cohort": name }, legend);
    const label = el("text", { x: 0, y: 34, "font-size": 12 }, item,
      name + (data.controls.includes(name) ? " (control)" : ""));
    const width = label.getComputedTextLength() || 7 * label.textContent.length;
    lx -= width + 22;
    label.setAttribute("x", lx + 22);
    el("line", { x1: lx, x2: lx + 16, y1: 30, y2: 30, stroke: colour[name], "stroke-width": 2.5 }, item);
    el("circle", { cx: lx + 8, cy: 30, r: 4, fill: colour[name], stroke: "#fff", "stroke-width": 1.2 }, item);
    lx -= 16;
  }

  // Axes and grid.
  const axes = el("g", { class: "axes" }, svg);
  for (const t of ticks(y0, y1, 6)) {
    el("line", { x1: left, x2: right, y1: sy(t), y2: sy(t), stroke: "#e6e9ef", "stroke-width": 1 }, axes);
    el("text", { x: left - 8, y: sy(t) + 4, "text-anchor": "end", fill: "#627085" }, axes, fmt(t));
  }
  for (const t of ticks(x0, x1, 8)) {
    el("line", { x1: sx(t), x2: sx(t), y1: bottom, y2: bottom + 5, stroke: "#8a96a8" }, axes);
    el("text", { x: sx(t), y: bottom + 19, "text-anchor": "middle", fill: "#627085" }, axes, fmt(t));
  }
  el("line", { x1: left, x2: right, y1: bottom, y2: bottom, stroke: "#8a96a8" }, axes);
  el("line", { x1: left, x2: left, y1: top, y2: bottom, stroke: "#8a96a8" }, axes);
  if (mode !== "absolute") {
    el("line", { x1: left, x2: right, y1: sy(0), y2: sy(0), stroke: "#8a96a8",
      "stroke-dasharray": "4 3", class: "zero-line" }, axes);
  }
  el("text", { x: (left + right) / 2, y: H - 14, "text-anchor": "middle", "font-size": 13 }, axes,
    "Study day");
  el("text", { x: 0, y: 0, "text-anchor": "middle", "font-size": 13,
    transform: `translate(20 ${(top + bottom) / 2}) rotate(-90)` }, axes, yTitle);

  // Animals: thin lines (below the means) and one point per animal and time point.
  const animals = el("g", { class: "animals", id: "animal-lines" }, svg);
  const byAnimal = new Map();
  for (const p of points) {
    if (!byAnimal.has(p.animal_id)) byAnimal.set(p.animal_id, []);
    byAnimal.get(p.animal_id).push(p);
  }
  for (const series of byAnimal.values()) {
    series.sort((a, b) => a.day - b.day);
    const c = colour[series[0].cohort];
    if (series.length > 1) {
      el("polyline", {
        class: "animal-line", "data-animal": series[0].animal, fill: "none", stroke: c,
        "stroke-width": 1, "stroke-opacity": 0.35,
        points: series.map((p) => `${(sx(p.day) + dodge[p.cohort]).toFixed(1)},${sy(valueOf(p)).toFixed(1)}`).join(" "),
      }, animals);
    }
  }
  // Cohorts: mean ± SEM, joined over time.
  const means = el("g", { class: "means" }, svg);
  for (const name of data.cohorts) {
    const rows = summary.filter((s) => s.cohort === name).sort((a, b) => a.day - b.day);
    const c = colour[name];
    const x = (s) => sx(s.day) + dodge[name];
    if (rows.length > 1) {
      el("polyline", { fill: "none", stroke: c, "stroke-width": 2.4, "stroke-linejoin": "round",
        points: rows.map((s) => `${x(s).toFixed(1)},${sy(s.mean).toFixed(1)}`).join(" ") }, means);
    }
    for (const s of rows) {
      const g = el("g", { class: "cohort-mean", "data-cohort": name, "data-day": s.day,
        "data-n": s.n, "data-mean": s.mean, "data-sem": s.sem === null ? "" : s.sem }, means);
      el("title", {}, g, `${name} · day ${s.day}: ${fmt(s.mean)}` +
        (s.sem === null ? "" : ` ± ${fmt(s.sem)}`) + `${unit ? " " + unit : ""} (n = ${s.n})`);
      if (s.sem !== null && s.sem > 0) {
        const xa = x(s), ya = sy(s.mean - s.sem), yb = sy(s.mean + s.sem);
        el("line", { class: "error-bar", x1: xa, x2: xa, y1: ya, y2: yb, stroke: c, "stroke-width": 1.6 }, g);
        el("line", { x1: xa - 5, x2: xa + 5, y1: ya, y2: ya, stroke: c, "stroke-width": 1.6 }, g);
        el("line", { x1: xa - 5, x2: xa + 5, y1: yb, y2: yb, stroke: c, "stroke-width": 1.6 }, g);
      }
      el("circle", { cx: x(s), cy: sy(s.mean), r: 5.2, fill: c, stroke: "#fff", "stroke-width": 1.5 }, g);
    }
  }
  // Points last, so that the means never cover one: every point stays clickable.
  const marks = el("g", { class: "animals", id: "animal-points" }, svg);
  for (const p of points) {
    const link = el("a", { href: p.session_url, class: "point-link", "data-viewer": p.viewer_url }, marks);
    el("title", {}, link,
      `${p.animal} (${p.cohort}) · day ${p.day}: ${fmt(valueOf(p))}${unit ? " " + unit : ""}\n` +
      "Click: open the scan session · Alt-click: open the volume in the viewer");
    el("circle", {
      class: "animal-point", cx: (sx(p.day) + dodge[p.cohort]).toFixed(1), cy: sy(valueOf(p)).toFixed(1),
      r: 3.2, fill: colour[p.cohort], "fill-opacity": 0.55, stroke: colour[p.cohort],
      "stroke-opacity": 0.8, "stroke-width": 0.8, "data-animal": p.animal, "data-cohort": p.cohort,
      "data-day": p.day, "data-value": valueOf(p),
    }, link);
  }

  // Alt-click: the volume in the viewer instead of the session.
  marks.addEventListener("click", (event) => {
    const link = event.target.closest("a.point-link");
    if (link && event.altKey) {
      event.preventDefault();
      window.location.href = link.getAttribute("data-viewer");
    }
  });

  const toggle = document.getElementById("show-animals");
  if (toggle) {
    toggle.addEventListener("change", () => {
      for (const layer of [animals, marks]) {
        if (toggle.checked) layer.removeAttribute("display");
        else layer.setAttribute("display", "none");
      }
    });
  }

  /* PNG at twice the plot's size: the SVG as an image drawn onto a canvas. */
  function exportPng() {
    const text = new XMLSerializer().serializeToString(svg);
    const image = new Image();
    image.onload = () => {
      const scale = 2;
      const canvas = document.createElement("canvas");
      canvas.width = W * scale;
      canvas.height = H * scale;
      const context = canvas.getContext("2d");
      context.fillStyle = "#ffffff";
      context.fillRect(0, 0, canvas.width, canvas.height);
      context.drawImage(image, 0, 0, canvas.width, canvas.height);
      canvas.toBlob((blob) => {
        const link = document.createElement("a");
        link.href = URL.createObjectURL(blob);
        link.download = `${data.study}-${data.parameter}-${data.site}-${mode}.png`
          .replace(/[^A-Za-z0-9._-]+/g, "_");
        document.body.appendChild(link);
        link.click();
        link.remove();
        setTimeout(() => URL.revokeObjectURL(link.href), 10000);
      }, "image/png");
    };
    image.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(text);
  }
  const button = document.getElementById("export-png");
  if (button) button.addEventListener("click", exportPng);
})();
