"""Bone-surface renders: meshing, decimation, file sizes and off-screen render time.

A trabecular-like phantom (a thick-walled tube with random rods inside, as a long bone's
metaphysis) at the sizes the render task meets after choosing a pyramid level
(64³, 128³); prints per step the median of a few runs, the triangle counts, the area
kept by decimation, the STL/PLY/VTP bytes and the PNG render time.  Nothing passes or
fails on time.

    .venv/bin/python -m bench.render_surface
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from frontend import renders

REPEATS = 3


def phantom(n: int, seed: int = 0) -> np.ndarray:
    """A tube (cortex) along z with random rods (trabeculae) inside, grey values 0–1000."""
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[:n, :n, :n].astype(np.float32)
    c = (n - 1) / 2
    r = np.hypot(x - c, y - c)
    bone = (r > 0.36 * n) & (r < 0.44 * n)
    for _ in range(n // 4):
        p = rng.uniform(0.25 * n, 0.75 * n, 3)
        d = rng.normal(size=3)
        d /= np.linalg.norm(d)
        v = np.stack([z - p[0], y - p[1], x - p[2]])
        along = np.tensordot(d, v, axes=1)
        dist2 = (v**2).sum(0) - along**2
        bone |= (dist2 < (0.025 * n) ** 2) & (np.abs(along) < 0.2 * n) & (r < 0.4 * n)
    return bone.astype(np.float32) * 1000.0


def timed(fn):
    times, value = [], None
    for _ in range(REPEATS):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def main() -> None:
    print(f"{'grid':>6} {'mesh s':>7} {'tris full':>10} {'tris kept':>10} {'area kept':>9} "
          f"{'STL KiB':>8} {'PLY KiB':>8} {'VTP KiB':>8} {'PNG s':>6} {'PNG KiB':>8}")  # fmt: skip
    for n in (64, 128):
        grey = phantom(n)
        full = renders.bone_surface(grey, 10.0, target_reduction=0.0)
        seconds, surface = timed(lambda grey=grey: renders.bone_surface(grey, 10.0))
        kept = renders.mesh_area_um2(surface.mesh) / renders.mesh_area_um2(full.mesh)
        sizes = {f: len(renders.encode_mesh(surface.mesh, f)) / 1024 for f in renders.MESH_FORMATS}
        render_s, png = timed(lambda surface=surface: renders.render_png(surface))
        print(f"{n:>5}³ {seconds:7.2f} {full.mesh.n_cells:10d} {surface.mesh.n_cells:10d} "
              f"{kept:9.3f} {sizes['stl']:8.0f} {sizes['ply']:8.0f} {sizes['vtp']:8.0f} "
              f"{render_s:6.2f} {len(png) / 1024:8.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
