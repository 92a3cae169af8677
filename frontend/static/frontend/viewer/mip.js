// The 3-D preview: maximum-intensity projection by ray marching a 3-D texture of a coarse
// pyramid level (orthographic camera orbiting the volume centre).  The overlay colours a
// ray by the most opaque label class it meets (formed and resorbed before quiescent with
// the default opacities), so remodelling sites show through the bone.

import { bindLook, compile, unitQuad, volumeTexture } from "./gl.js";

const VERTEX = `#version 300 es
in vec2 aCorner;
uniform vec2 uAspect;
out vec2 vScreen;
void main() {
  vScreen = (aCorner * 2.0 - 1.0) * uAspect;
  gl_Position = vec4(aCorner * 2.0 - 1.0, 0.0, 1.0);
}`;

const FRAGMENT = `#version 300 es
precision highp float;
precision highp sampler3D;
uniform sampler3D uVolume;
uniform sampler3D uLabels;
uniform bool uHasLabels;
uniform mat3 uRotation;
uniform vec3 uHalf;      // half extents (x, y, z), the largest being 1
uniform float uZoom;
uniform vec2 uQuant;     // stored value = byte * scale + offset
uniform vec2 uWindow;
uniform sampler2D uLut;
uniform float uLutRow;
uniform sampler2D uPalette;
in vec2 vScreen;
out vec4 outColour;
const int STEPS = 320;
void main() {
  vec3 origin = uRotation * vec3(vScreen / uZoom, -3.0);
  vec3 dir = uRotation * vec3(0.0, 0.0, 1.0);
  vec3 inv = 1.0 / dir;
  vec3 t0 = (-uHalf - origin) * inv;
  vec3 t1 = (uHalf - origin) * inv;
  float near = max(max(min(t0.x, t1.x), min(t0.y, t1.y)), min(t0.z, t1.z));
  float far = min(min(max(t0.x, t1.x), max(t0.y, t1.y)), max(t0.z, t1.z));
  if (far <= max(near, 0.0)) { outColour = vec4(0.055, 0.063, 0.078, 1.0); return; }
  float dt = (far - near) / float(STEPS);
  float best = -1.0;
  vec4 mark = vec4(0.0);  // the most opaque overlay class met along the ray
  for (int k = 0; k < STEPS; k++) {
    vec3 tc = (origin + dir * (near + (float(k) + 0.5) * dt)) / (2.0 * uHalf) + 0.5;
    best = max(best, texture(uVolume, tc).r);
    if (uHasLabels) {
      float label = floor(texture(uLabels, tc).r * 255.0 + 0.5);
      vec4 pc = texture(uPalette, vec2((label + 0.5) / 256.0, 0.5));
      if (pc.a > mark.a) mark = pc;
    }
  }
  float value = best * 255.0 * uQuant.x + uQuant.y;
  float t = clamp((value - uWindow.x) / (uWindow.y - uWindow.x), 0.0, 1.0);
  vec3 colour = texture(uLut, vec2(t * 255.0 / 256.0 + 0.5 / 256.0, (uLutRow + 0.5) / 3.0)).rgb;
  colour = mix(colour, mark.rgb, mark.a);
  outColour = vec4(colour, 1.0);
}`;

function multiply(a, b) {
  const out = [];
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) out[r * 3 + c] = a[r * 3] * b[c] + a[r * 3 + 1] * b[3 + c] + a[r * 3 + 2] * b[6 + c];
  return out;
}

/** Camera → volume rotation (row-major 3 × 3): yaw about z, then pitch; z up on screen. */
export function rotation(yawDeg, pitchDeg) {
  const y = (yawDeg * Math.PI) / 180;
  const p = (pitchDeg * Math.PI) / 180;
  const rz = [Math.cos(y), -Math.sin(y), 0, Math.sin(y), Math.cos(y), 0, 0, 0, 1];
  const rx = [1, 0, 0, 0, Math.cos(p), -Math.sin(p), 0, Math.sin(p), Math.cos(p)];
  // Camera x → volume x, camera y (up) → volume z, camera depth → volume y.
  const base = [1, 0, 0, 0, 0, 1, 0, 1, 0];
  return multiply(multiply(rz, rx), base);
}

export class MipRenderer {
  constructor(gl) {
    this.gl = gl;
    this.volume = null;
    this.labels = null;
    this.labelKey = null;
    this.version = 0; // changes whenever a texture does
  }

  /** Compile on first use: the ray marcher's shader is slow to compile in software GL. */
  ensureProgram() {
    if (this.prog) return;
    const gl = this.gl;
    this.prog = compile(gl, VERTEX, FRAGMENT);
    this.vao = unitQuad(gl, this.prog.program);
  }

  setVolume(preview, voxelUm) {
    this.ensureProgram();
    const gl = this.gl;
    if (this.volume) gl.deleteTexture(this.volume.tex);
    const [nz, ny, nx] = preview.shape;
    const ext = [nx, ny, nz].map((n) => n * voxelUm);
    const biggest = Math.max(...ext);
    this.volume = {
      tex: volumeTexture(gl, preview.shape, preview.raw, true),
      half: ext.map((e) => e / biggest),
      scale: preview.scale,
      offset: preview.offset,
      level: preview.level,
    };
    this.version += 1;
  }

  setLabels(preview, key) {
    const gl = this.gl;
    if (this.labels) gl.deleteTexture(this.labels);
    this.labels = preview ? volumeTexture(gl, preview.shape, preview.raw, false) : null;
    this.labelKey = key;
    this.version += 1;
  }

  draw(width, height, camera, look, showLabels) {
    if (!this.volume) return;
    const gl = this.gl;
    const u = this.prog.uniforms;
    gl.useProgram(this.prog.program);
    gl.bindVertexArray(this.vao);
    const aspect = width > height ? [width / height, 1] : [1, height / width];
    gl.uniform2f(u.uAspect, ...aspect);
    const r = rotation(camera.yaw, camera.pitch);
    // WebGL takes column-major matrices: transpose the row-major rotation.
    gl.uniformMatrix3fv(u.uRotation, false, [r[0], r[3], r[6], r[1], r[4], r[7], r[2], r[5], r[8]]);
    gl.uniform3f(u.uHalf, ...this.volume.half);
    gl.uniform1f(u.uZoom, camera.zoom);
    gl.uniform2f(u.uQuant, this.volume.scale, this.volume.offset);
    bindLook(gl, u, look);
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_3D, this.volume.tex);
    gl.uniform1i(u.uVolume, 0);
    const labels = showLabels && this.labels;
    gl.uniform1i(u.uHasLabels, labels ? 1 : 0);
    gl.activeTexture(gl.TEXTURE3);
    gl.bindTexture(gl.TEXTURE_3D, labels ? this.labels : this.volume.tex);
    gl.uniform1i(u.uLabels, 3);
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
  }
}
