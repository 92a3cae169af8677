// Reading a volume through the viewer's data endpoints: metadata, slices, tiles, labels.
// Coordinates: arrays are [z, y, x]; world positions are µm with the volume centre at 0
// (docs/conventions.md); level-L voxel i covers level-0 voxels [i·2^L, (i+1)·2^L).

const CACHE_ENTRIES = 400;

class LruPromises {
  constructor(limit) {
    this.limit = limit;
    this.map = new Map();
  }
  get(key, make) {
    let value = this.map.get(key);
    if (value !== undefined) {
      this.map.delete(key);
    } else {
      const made = make();
      made.then(
        (result) => {
          made.value = result; // read synchronously by the renderer once loaded
        },
        (error) => {
          made.error = error;
          this.map.delete(key);
        },
      );
      value = made;
    }
    this.map.set(key, value);
    while (this.map.size > this.limit) this.map.delete(this.map.keys().next().value);
    return value;
  }
}

const cache = new LruPromises(CACHE_ENTRIES);

async function fetchOk(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) {
    let detail = response.statusText;
    try {
      detail = (await response.json()).detail || detail;
    } catch (_) {
      /* not JSON */
    }
    throw new Error(`${response.status} ${detail} (${url})`);
  }
  return response;
}

/** Raw little-endian bytes with X-Shape/X-Dtype/X-Scale/X-Offset headers → typed arrays. */
export async function fetchRaw(url, asFloat = true) {
  const response = await fetchOk(url);
  const header = (name) => response.headers.get(name);
  const shape = header("X-Shape").split(",").map(Number);
  const dtype = header("X-Dtype");
  const scale = Number(header("X-Scale"));
  const offset = Number(header("X-Offset"));
  const buffer = await response.arrayBuffer();
  const raw =
    dtype === "float32" ? new Float32Array(buffer) : dtype === "uint16" ? new Uint16Array(buffer) : new Uint8Array(buffer);
  let data = raw;
  if (asFloat && dtype !== "float32") {
    data = new Float32Array(raw.length);
    for (let k = 0; k < raw.length; k++) data[k] = raw[k] * scale + offset;
  }
  return { shape, dtype, scale, offset, data, raw, level: Number(header("X-Level")), bytes: buffer.byteLength };
}

export const AXIS_NAMES = ["z", "y", "x"];

/** The two array dimensions of a slice along `axis`: [rows, cols]. */
export function planeDims(axis) {
  return [0, 1, 2].filter((d) => d !== axis);
}

export class VolumeSource {
  constructor(id, dataPattern, format = "u16") {
    this.id = id;
    this.dataPattern = dataPattern;
    this.base = dataPattern.replace("{id}", id);
    this.format = format;
    this.labelBases = {}; // label name → data URL of the volume holding it (else this one)
  }

  /**
   * Offer label volume `name` kept in another (label-only) volume `volumeId` on this
   * volume's grid, e.g. the segmentation of a morphometry: its slices are read through
   * that volume's own endpoints.
   */
  addLabels(name, volumeId, classes) {
    this.meta.labels[name] = { shapes: this.shapes, classes, volume: volumeId };
    this.labelBases[name] = this.dataPattern.replace("{id}", volumeId);
  }

  labelBase(name) {
    return this.labelBases[name] || this.base;
  }

  async load() {
    this.meta = await (await fetchOk(`${this.base}metadata`)).json();
    this.shapes = this.meta.shapes;
    this.n0 = this.shapes[0];
    this.v0 = this.meta.voxel_size_um[0];
    this.levels = this.shapes.length;
    return this;
  }

  /** World coordinate (µm) of the centre of level-0 voxel `i` along dimension `d`. */
  world(d, i) {
    return (i - (this.n0[d] - 1) / 2) * this.v0;
  }

  /** Level-L voxel index holding world coordinate `w` along dimension `d` (clamped). */
  index(d, w, level = 0) {
    const i0 = w / this.v0 + this.n0[d] / 2; // level-0 voxel edges at integers
    const i = Math.floor(i0 / 2 ** level);
    return Math.min(this.shapes[level][d] - 1, Math.max(0, i));
  }

  /** Continuous level-L index (voxel edges at integers) of world coordinate `w`. */
  fractional(d, w, level = 0) {
    return (w / this.v0 + this.n0[d] / 2) / 2 ** level;
  }

  /** World edges [lo, hi] (µm) of `count` level-L voxels starting at `start` along `d`. */
  edges(d, level, start = 0, count = this.shapes[level][d]) {
    const lo = -this.n0[d] * this.v0 / 2 + start * this.v0 * 2 ** level;
    return [lo, lo + count * this.v0 * 2 ** level];
  }

  contains(d, w) {
    return Math.abs(w) <= (this.n0[d] * this.v0) / 2;
  }

  plane(axis, level) {
    return planeDims(axis).map((d) => this.shapes[level][d]);
  }

  sliceUrl(axis, index, level, format = this.format) {
    return `${this.base}slice?axis=${AXIS_NAMES[axis]}&index=${index}&level=${level}&fmt=${format}`;
  }

  slice(axis, index, level) {
    const url = this.sliceUrl(axis, index, level);
    return cache.get(url, () => fetchRaw(url).then((s) => Object.assign(s, { key: url, axis, index, level, r0: 0, c0: 0 })));
  }

  tile(axis, index, level, r0, c0, size) {
    const [rows, cols] = this.plane(axis, level);
    const r1 = Math.min(rows, r0 + size);
    const c1 = Math.min(cols, c0 + size);
    const url = `${this.sliceUrl(axis, index, level).replace("/slice?", "/tile?")}&r0=${r0}&r1=${r1}&c0=${c0}&c1=${c1}`;
    return cache.get(url, () => fetchRaw(url).then((s) => Object.assign(s, { key: url, axis, index, level, r0, c0 })));
  }

  /** A label slice, or with `size` the label tile at (r0, c0) of the tile grid. */
  label(name, axis, index, level, r0 = 0, c0 = 0, size = 0) {
    let url = `${this.labelBase(name)}labels/${encodeURIComponent(name)}?axis=${AXIS_NAMES[axis]}&index=${index}&level=${level}`;
    if (size) {
      const [rows, cols] = this.plane(axis, level);
      url += `&r0=${r0}&r1=${Math.min(rows, r0 + size)}&c0=${c0}&c1=${Math.min(cols, c0 + size)}`;
    }
    return cache.get(url, () =>
      fetchRaw(url, false).then((s) => Object.assign(s, { key: url, axis, index, level, r0, c0 })),
    );
  }

  preview(max, label) {
    const base = label ? this.labelBase(label) : this.base;
    const url = `${base}preview?max=${max}&fmt=u8${label ? `&label=${encodeURIComponent(label)}` : ""}`;
    return cache.get(url, () => fetchRaw(url, false).then((s) => Object.assign(s, { key: url })));
  }

  /** Calibrated density (mgHA/cm³) of a stored value, or null where none is known. */
  density(value) {
    if (this.meta.units === "mgHA/cm3") return value;
    const cal = this.meta.calibration;
    return cal ? cal.slope * value + cal.intercept : null;
  }

  /** Stored value of a density (mgHA/cm³), or null. */
  storedOfDensity(rho) {
    if (this.meta.units === "mgHA/cm3") return rho;
    const cal = this.meta.calibration;
    return cal && cal.slope ? (rho - cal.intercept) / cal.slope : null;
  }
}

/** Value of a loaded slice or tile at world position `p` ([z, y, x] µm), or undefined. */
export function sampleAt(source, item, p) {
  const [dr, dc] = planeDims(item.axis);
  const r = Math.floor(source.fractional(dr, p[dr], item.level)) - item.r0;
  const c = Math.floor(source.fractional(dc, p[dc], item.level)) - item.c0;
  const [rows, cols] = item.shape;
  if (r < 0 || c < 0 || r >= rows || c >= cols) return undefined;
  return item.data[r * cols + c];
}
