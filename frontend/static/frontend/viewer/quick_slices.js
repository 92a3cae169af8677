// The first picture before WebGL is ready: each view's slice as the server's 8-bit PNG
// (window/level applied by the server).  Software WebGL needs a few hundred milliseconds
// to create its context and compile its shaders; these images need neither.
//
// With no view in the address the page itself carries the middle slices as <img>
// elements placed by CSS (viewer.html, viewer.css): they are on screen with the first
// paint, before any script runs.  With a view in the address (a shared link) they are
// hidden, and the slices that view asks for are drawn here on a 2-D canvas above the
// WebGL canvas.  The WebGL views take over once they show their own slices, and both are
// hidden (the same slice, level and window, so the picture does not change).

import { colourMapBytes } from "./gl.js";

/**
 * One view's first slice.
 * @typedef {Object} QuickPlan
 * @property {string} url - the PNG slice URL
 * @property {{x: number, y: number, w: number, h: number}} rect - the view (CSS px)
 * @property {number[]} centre - world [h, v] (µm) at the view's centre
 * @property {number} zoom - CSS px per µm
 * @property {boolean} flip - v grows upwards on screen
 * @property {number[]} world - [h0, v0, h1, v1] (µm) covered by the slice
 */

/** A grey PNG's pixels mapped through row `lutRow` of the colour maps (grey is row 0). */
function coloured(image, lutRow) {
  const canvas = document.createElement("canvas");
  canvas.width = image.width;
  canvas.height = image.height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(image, 0, 0);
  const pixels = ctx.getImageData(0, 0, image.width, image.height);
  const lut = colourMapBytes();
  const d = pixels.data;
  for (let k = 0; k < d.length; k += 4) {
    const o = (lutRow * 256 + d[k]) * 4;
    d[k] = lut[o];
    d[k + 1] = lut[o + 1];
    d[k + 2] = lut[o + 2];
  }
  ctx.putImageData(pixels, 0, 0);
  return canvas;
}

export class QuickSlices {
  /**
   * @param {HTMLCanvasElement} canvas - sized like the WebGL canvas, above it
   * @param {HTMLElement} pictures - the page's own first slices (<img> elements)
   * @param {number[]} background - RGB in 0…1 of an empty view
   */
  constructor(canvas, pictures, background) {
    this.canvas = canvas;
    this.pictures = pictures;
    this.fill = `rgb(${background.map((c) => Math.round(255 * c)).join(",")})`;
    this.done = false;
  }

  /** Whether the page shows its own middle slices (no view in the address). */
  get served() {
    return getComputedStyle(this.pictures).display !== "none";
  }

  /**
   * Wait for the page's own slices to be decoded (the browser draws them).
   * @param {function(): void} onDrawn - called after each
   * @returns {Promise<number>} how many were decoded
   */
  async whenServed(onDrawn) {
    const one = async (image) => {
      await image.decode();
      if (!this.done) onDrawn();
      return true;
    };
    const results = await Promise.allSettled([...this.pictures.querySelectorAll("img")].map(one));
    return results.filter((r) => r.status === "fulfilled").length;
  }

  /**
   * Fetch every plan's PNG (in parallel) and draw each the moment it is decoded.
   * @param {QuickPlan[]} plans
   * @param {number} lutRow - colour map row (0 grey, as the PNG is)
   * @param {number} dpr - device pixels per CSS pixel
   * @param {function(QuickPlan): void} onDrawn - called after each drawing
   * @returns {Promise<number>} how many were drawn (failures are left to WebGL)
   */
  async show(plans, lutRow, dpr, onDrawn) {
    // A canvas read back is drawn on the CPU: no accelerated canvas to start first.
    const ctx = this.canvas.getContext("2d", { willReadFrequently: true });
    const one = async (plan) => {
      const response = await fetch(plan.url, { credentials: "same-origin" });
      if (!response.ok) throw new Error(`${response.status} (${plan.url})`);
      // Decoded off the main thread.
      const bitmap = await createImageBitmap(await response.blob());
      if (this.done) return false;
      this.draw(ctx, plan, lutRow > 0 ? coloured(bitmap, lutRow) : bitmap, dpr);
      onDrawn(plan);
      return true;
    };
    const results = await Promise.allSettled(plans.map(one));
    return results.filter((r) => r.status === "fulfilled" && r.value).length;
  }

  draw(ctx, plan, image, dpr) {
    const { rect, centre, zoom, flip, world } = plan;
    ctx.save();
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.beginPath();
    ctx.rect(rect.x, rect.y, rect.w, rect.h);
    ctx.clip();
    ctx.fillStyle = this.fill;
    ctx.fillRect(rect.x, rect.y, rect.w, rect.h);
    // World (µm) to CSS px as the WebGL views map it (data.js, slice_renderer.js).
    ctx.translate(rect.x + rect.w / 2, rect.y + rect.h / 2);
    ctx.scale(zoom, flip ? -zoom : zoom);
    ctx.translate(-centre[0], -centre[1]);
    ctx.imageSmoothingEnabled = false; // nearest voxel, as the WebGL textures sample
    ctx.drawImage(image, world[0], world[1], world[2] - world[0], world[3] - world[1]);
    ctx.restore();
  }

  /** WebGL shows the slices now: hide the first pictures and draw no more of them. */
  hide() {
    this.done = true;
    this.canvas.hidden = true;
    this.pictures.hidden = true;
  }
}
