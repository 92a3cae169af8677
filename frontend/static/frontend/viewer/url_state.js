// The view in the URL's fragment, so that a view can be shared: read once, written as it
// changes (debounced, replaceState so the back button is not flooded).

const round = (v) => Math.round(v * 100) / 100;
const numbers = (text, n) => {
  const parts = (text || "").split(",").map(Number);
  return parts.length === n && parts.every(Number.isFinite) ? parts : null;
};

/** Parse `#p=z,y,x&w=lo,hi&…` into a partial state (only the valid keys). */
export function readHash(hash) {
  const q = new URLSearchParams(hash.replace(/^#/, ""));
  const out = {};
  const p = numbers(q.get("p"), 3);
  if (p) out.p = p;
  const w = numbers(q.get("w"), 2);
  if (w && w[1] > w[0]) out.window = w;
  if (q.get("cm")) out.cmap = q.get("cm");
  if (q.has("ov")) out.overlay = q.get("ov");
  if (q.get("cls")) {
    out.classes = {};
    for (const part of q.get("cls").split(";")) {
      const [value, on, colour, opacity] = part.split(":");
      if (/^[0-9a-f]{6}$/i.test(colour || "")) {
        out.classes[Number(value)] = { on: on === "1", colour: `#${colour}`, opacity: Number(opacity) || 0 };
      }
    }
  }
  if (q.get("cmp")) out.compare = Number(q.get("cmp"));
  const sw = Number(q.get("sw"));
  if (q.has("sw") && sw >= 0 && sw <= 1) out.swipe = sw;
  const views = (q.get("v") || "").split(";").map((t) => numbers(t, 3));
  if (views.length === 3 && views.every((v) => v && v[2] > 0)) out.views = views;
  const cam = numbers(q.get("r"), 3);
  if (cam && cam[2] > 0) out.camera = { yaw: cam[0], pitch: cam[1], zoom: cam[2] };
  const line = numbers(q.get("line"), 7);
  if (line && [0, 1, 2].includes(line[0])) out.line = { axis: line[0], a: line.slice(1, 4), b: line.slice(4, 7) };
  return out;
}

/** The fragment for a state. */
export function writeHash(s) {
  const q = new URLSearchParams();
  q.set("p", s.p.map(round).join(","));
  q.set("w", [s.lo, s.hi].map((v) => Number(v.toPrecision(6))).join(","));
  q.set("cm", s.cmap);
  q.set("ov", s.overlay || "");
  if (s.overlay) {
    const cls = Object.entries(s.classes).map(([v, c]) => `${v}:${c.on ? 1 : 0}:${c.colour.slice(1)}:${round(c.opacity)}`);
    q.set("cls", cls.join(";"));
  }
  if (s.compare) {
    q.set("cmp", s.compare);
    q.set("sw", round(s.swipe));
  }
  q.set("v", s.views.map((v) => [v.centre[0], v.centre[1], v.zoom].map((x) => Number(x.toPrecision(5))).join(",")).join(";"));
  q.set("r", [s.camera.yaw, s.camera.pitch, s.camera.zoom].map(round).join(","));
  if (s.line) q.set("line", [s.line.axis, ...s.line.a, ...s.line.b].map(round).join(","));
  return `#${q.toString().replace(/%2C/g, ",").replace(/%3B/g, ";").replace(/%3A/g, ":")}`;
}
