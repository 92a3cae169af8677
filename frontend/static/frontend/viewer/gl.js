// Small WebGL2 helpers: programs, textures, colour-map and palette look-up tables.

export function compile(gl, vertexSource, fragmentSource) {
  const program = gl.createProgram();
  for (const [type, source] of [[gl.VERTEX_SHADER, vertexSource], [gl.FRAGMENT_SHADER, fragmentSource]]) {
    const shader = gl.createShader(type);
    gl.shaderSource(shader, source);
    gl.compileShader(shader);
    if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) {
      throw new Error(`shader: ${gl.getShaderInfoLog(shader)}`);
    }
    gl.attachShader(program, shader);
  }
  gl.linkProgram(program);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS)) {
    throw new Error(`program: ${gl.getProgramInfoLog(program)}`);
  }
  const uniforms = {};
  const count = gl.getProgramParameter(program, gl.ACTIVE_UNIFORMS);
  for (let k = 0; k < count; k++) {
    const name = gl.getActiveUniform(program, k).name;
    uniforms[name] = gl.getUniformLocation(program, name);
  }
  return { program, uniforms };
}

/** A vertex array of the unit square (triangle strip) bound to `aCorner` of `program`. */
export function unitQuad(gl, program) {
  const vao = gl.createVertexArray();
  gl.bindVertexArray(vao);
  gl.bindBuffer(gl.ARRAY_BUFFER, gl.createBuffer());
  gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([0, 0, 1, 0, 0, 1, 1, 1]), gl.STATIC_DRAW);
  const loc = gl.getAttribLocation(program, "aCorner");
  gl.enableVertexAttribArray(loc);
  gl.vertexAttribPointer(loc, 2, gl.FLOAT, false, 0, 0);
  return vao;
}

/**
 * Set the uniforms of the look shared by the programs: window (uWindow), colour map
 * (uLut on unit 1, row uLutRow) and label palette (uPalette on unit 2).
 */
export function bindLook(gl, uniforms, look) {
  gl.uniform2f(uniforms.uWindow, look.lo, look.hi > look.lo ? look.hi : look.lo + 1e-6);
  gl.uniform1f(uniforms.uLutRow, look.lutRow);
  gl.activeTexture(gl.TEXTURE1);
  gl.bindTexture(gl.TEXTURE_2D, look.lut);
  gl.uniform1i(uniforms.uLut, 1);
  gl.activeTexture(gl.TEXTURE2);
  gl.bindTexture(gl.TEXTURE_2D, look.palette);
  gl.uniform1i(uniforms.uPalette, 2);
}

function texture(gl, target, filter) {
  const tex = gl.createTexture();
  gl.bindTexture(target, tex);
  gl.texParameteri(target, gl.TEXTURE_MIN_FILTER, filter);
  gl.texParameteri(target, gl.TEXTURE_MAG_FILTER, filter);
  for (const wrap of [gl.TEXTURE_WRAP_S, gl.TEXTURE_WRAP_T, gl.TEXTURE_WRAP_R]) {
    gl.texParameteri(target, wrap, gl.CLAMP_TO_EDGE);
  }
  return tex;
}

/** A 2-D float texture (R32F, nearest) of a [rows, cols] slice. */
export function floatTexture(gl, rows, cols, data) {
  const tex = texture(gl, gl.TEXTURE_2D, gl.NEAREST);
  gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
  gl.texImage2D(gl.TEXTURE_2D, 0, gl.R32F, cols, rows, 0, gl.RED, gl.FLOAT, data);
  return tex;
}

/** A 2-D label texture (R8, nearest) of a [rows, cols] uint8 slice. */
export function byteTexture(gl, rows, cols, data) {
  const tex = texture(gl, gl.TEXTURE_2D, gl.NEAREST);
  gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
  gl.texImage2D(gl.TEXTURE_2D, 0, gl.R8, cols, rows, 0, gl.RED, gl.UNSIGNED_BYTE, data);
  return tex;
}

/** A 3-D R8 texture of a [nz, ny, nx] uint8 block (linear for grey, nearest for labels). */
export function volumeTexture(gl, shape, data, linear) {
  const tex = texture(gl, gl.TEXTURE_3D, linear ? gl.LINEAR : gl.NEAREST);
  gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
  gl.texImage3D(gl.TEXTURE_3D, 0, gl.R8, shape[2], shape[1], shape[0], 0, gl.RED, gl.UNSIGNED_BYTE, data);
  return tex;
}

/** An RGBA8 texture of width 256 and `rows` rows (colour maps, label palettes). */
export function rgbaTable(gl, rows, bytes, old) {
  const tex = old || texture(gl, gl.TEXTURE_2D, gl.LINEAR);
  gl.bindTexture(gl.TEXTURE_2D, tex);
  gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
  gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, 256, rows, 0, gl.RGBA, gl.UNSIGNED_BYTE, bytes);
  return tex;
}

function piecewise(points, t) {
  for (let k = 1; k < points.length; k++) {
    if (t <= points[k][0]) {
      const [t0, a] = points[k - 1];
      const [t1, b] = points[k];
      return a.map((v, i) => v + ((b[i] - v) * (t - t0)) / (t1 - t0));
    }
  }
  return points[points.length - 1][1];
}

// matplotlib's "bone" (grey with a blue cast) and viridis at nine control points.
const BONE = [
  [0, [0, 0, 0]],
  [0.365079, [0.319444, 0.319444, 0.444444]],
  [0.746032, [0.652778, 0.777778, 0.777778]],
  [1, [1, 1, 1]],
];
const VIRIDIS = [
  "#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725",
].map((hex, k, all) => [k / (all.length - 1), [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)]);

export const COLOUR_MAPS = ["grey", "bone", "viridis"];

/** 256 × 3 RGBA bytes: one row per colour map, in COLOUR_MAPS order. */
export function colourMapBytes() {
  const bytes = new Uint8Array(256 * 3 * 4);
  const maps = [(t) => [t, t, t], (t) => piecewise(BONE, t), (t) => piecewise(VIRIDIS, t)];
  maps.forEach((map, row) => {
    for (let i = 0; i < 256; i++) {
      const rgb = map(i / 255);
      const o = (row * 256 + i) * 4;
      for (let c = 0; c < 3; c++) bytes[o + c] = Math.round(255 * rgb[c]);
      bytes[o + 3] = 255;
    }
  });
  return bytes;
}

export function hexToRgb(hex) {
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
}
