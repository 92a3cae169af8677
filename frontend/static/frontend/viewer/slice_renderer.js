// Draws slices and tiles of a volume into one view's rectangle of the shared canvas:
// grey values windowed and coloured through a look-up table, labels blended on top.

import { byteTexture, compile, floatTexture } from "./gl.js";
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
    this.vao = gl.createVertexArray();
    gl.bindVertexArray(this.vao);
    const buffer = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([0, 0, 1, 0, 0, 1, 1, 1]), gl.STATIC_DRAW);
    const loc = gl.getAttribLocation(this.prog.program, "aCorner");
    gl.enableVertexAttribArray(loc);
    gl.vertexAttribPointer(loc, 2, gl.FLOAT, false, 0, 0);
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
   * Draw `items` (slices/tiles of `source`, coarse first) into the current viewport.
   * view: {centre: [h, v], zoom (px/µm), flip, width, height (px)}; look: {lo, hi, lutRow,
   * lut, palette}; label: a loaded label slice or null.
   */
  draw(view, source, items, label, look) {
    const gl = this.gl;
    const u = this.prog.uniforms;
    gl.useProgram(this.prog.program);
    gl.bindVertexArray(this.vao);
    const sy = ((view.flip ? 2 : -2) * view.zoom) / view.height;
    gl.uniform4f(u.uView, view.centre[0], view.centre[1], (2 * view.zoom) / view.width, sy);
    gl.uniform2f(u.uWindow, look.lo, look.hi > look.lo ? look.hi : look.lo + 1e-6);
    gl.uniform1f(u.uLutRow, look.lutRow);
    gl.activeTexture(gl.TEXTURE1);
    gl.bindTexture(gl.TEXTURE_2D, look.lut);
    gl.uniform1i(u.uLut, 1);
    gl.activeTexture(gl.TEXTURE2);
    gl.bindTexture(gl.TEXTURE_2D, look.palette);
    gl.uniform1i(u.uPalette, 2);
    gl.uniform1i(u.uHasLabel, label ? 1 : 0);
    if (label) {
      gl.activeTexture(gl.TEXTURE3);
      gl.bindTexture(gl.TEXTURE_2D, this.texture(label, true));
      gl.uniform1i(u.uLabel, 3);
      gl.uniform4f(u.uLabelRect, ...SliceRenderer.rect(source, label));
    }
    for (const item of items) {
      gl.activeTexture(gl.TEXTURE0);
      gl.bindTexture(gl.TEXTURE_2D, this.texture(item, false));
      gl.uniform1i(u.uGrey, 0);
      gl.uniform4f(u.uRect, ...SliceRenderer.rect(source, item));
      gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    }
  }
}
