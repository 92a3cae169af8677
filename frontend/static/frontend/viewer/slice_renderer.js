// Draws slices and tiles of a volume into one view's rectangle of the shared canvas:
// grey values windowed and coloured through a look-up table, labels blended on top.

import { bindLook, byteTexture, compile, floatTexture, unitQuad } from "./gl.js";
import { planeDims } from "./data.js";

const VERTEX = `#version 300 es
in vec2 aCorner;
uniform vec4 uRect;   // world (µm) of the quad: h0, v0, h1, v1
uniform vec4 uView;   // centre h, centre v, clip units per µm along h and v
out vec2 vWorld;
void main() {
  vWorld = mix(uRect.xy, uRect.zw, aCorner);
  gl_Position = vec4((vWorld.x - uView.x) * uView.z, (vWorld.y - uView.y) * uView.w, 0.0, 1.0);
}`;

const FRAGMENT = `#version 300 es
precision highp float;
uniform highp sampler2D uGrey;
uniform vec4 uRect;
uniform highp sampler2D uLabel;
uniform vec4 uLabelRect;
uniform bool uHasLabel;
uniform sampler2D uLut;
uniform float uLutRow;
uniform sampler2D uPalette;
uniform vec2 uWindow;
in vec2 vWorld;
out vec4 outColour;
void main() {
  vec2 tc = (vWorld - uRect.xy) / (uRect.zw - uRect.xy);
  float value = texture(uGrey, tc).r;
  float t = clamp((value - uWindow.x) / (uWindow.y - uWindow.x), 0.0, 1.0);
  if (isnan(value)) t = 0.0;
  vec3 colour = texture(uLut, vec2(t * 255.0 / 256.0 + 0.5 / 256.0, (uLutRow + 0.5) / 3.0)).rgb;
  if (uHasLabel) {
    vec2 lc = (vWorld - uLabelRect.xy) / (uLabelRect.zw - uLabelRect.xy);
    if (all(greaterThanEqual(lc, vec2(0.0))) && all(lessThan(lc, vec2(1.0)))) {
      float label = floor(texture(uLabel, lc).r * 255.0 + 0.5);
      vec4 pc = texture(uPalette, vec2((label + 0.5) / 256.0, 0.5));
      colour = mix(colour, pc.rgb, pc.a);
    }
  }
  outColour = vec4(colour, 1.0);
}`;

const TEXTURES = 160;

export class SliceRenderer {
  constructor(gl) {
    this.gl = gl;
    this.prog = compile(gl, VERTEX, FRAGMENT);
    this.vao = unitQuad(gl, this.prog.program);
    this.textures = new Map();
  }

  texture(item, isLabel) {
    let tex = this.textures.get(item.key);
    if (tex) {
      this.textures.delete(item.key);
    } else {
      const [rows, cols] = item.shape;
      tex = isLabel ? byteTexture(this.gl, rows, cols, item.data) : floatTexture(this.gl, rows, cols, item.data);
    }
    this.textures.set(item.key, tex);
    while (this.textures.size > TEXTURES) {
      const [key, old] = this.textures.entries().next().value;
      this.textures.delete(key);
      this.gl.deleteTexture(old);
    }
    return tex;
  }

  /** World rectangle [h0, v0, h1, v1] (µm) covered by a loaded slice or tile. */
  static rect(source, item) {
    const [dr, dc] = planeDims(item.axis);
    const [h0, h1] = source.edges(dc, item.level, item.c0, item.shape[1]);
    const [v0, v1] = source.edges(dr, item.level, item.r0, item.shape[0]);
    return [h0, v0, h1, v1];
  }

  /**
   * Draw `items` (slices/tiles of `source`, coarse first) into the current viewport, each
   * with the label slice or tile in `labels` at the same position (or null).
   * view: {centre: [h, v], zoom (px/µm), flip, width, height (px)}; look: {lo, hi, lutRow,
   * lut, palette}.
   */
  draw(view, source, items, labels, look) {
    const gl = this.gl;
    const u = this.prog.uniforms;
    gl.useProgram(this.prog.program);
    gl.bindVertexArray(this.vao);
    const sy = ((view.flip ? 2 : -2) * view.zoom) / view.height;
    gl.uniform4f(u.uView, view.centre[0], view.centre[1], (2 * view.zoom) / view.width, sy);
    bindLook(gl, u, look);
    gl.uniform1i(u.uGrey, 0);
    gl.uniform1i(u.uLabel, 3);
    items.forEach((item, k) => {
      const label = labels[k];
      gl.uniform1i(u.uHasLabel, label ? 1 : 0);
      gl.activeTexture(gl.TEXTURE3);
      // An unused sampler still needs a 2-D texture bound: the grey one serves.
      gl.bindTexture(gl.TEXTURE_2D, this.texture(label || item, !!label));
      if (label) gl.uniform4f(u.uLabelRect, ...SliceRenderer.rect(source, label));
      gl.activeTexture(gl.TEXTURE0);
      gl.bindTexture(gl.TEXTURE_2D, this.texture(item, false));
      gl.uniform4f(u.uRect, ...SliceRenderer.rect(source, item));
      gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    });
  }
}
