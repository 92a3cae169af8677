"""2-D parallel-beam FBP, 512² from 720 angles: ours beside ASTRA (CPU) and scikit-image.

One sinogram — scikit-image's ``radon(circle=True)`` of its Shepp–Logan phantom
resized to 512² — is reconstructed by

* ``recon.engine.fdk.fbp`` (numba CPU backend, Ram-Lak; the filtered rows are
  band-limited-interpolated onto half-column steps before the backprojection's
  linear interpolation, ``recon.engine.backends.cpu.column_upsampling_for``),
* ASTRA Toolbox's CPU ``FBP`` (``pip install astra-toolbox``; not a project
  requirement — the line says so when it cannot be imported),
* ``skimage.transform.iradon`` (ramp filter, linear interpolation),

each on scikit-image's pixel grid (centre at index N // 2, rows along −y; see
``tests/recon/test_geometry.py``), and compared with the phantom inside the
inscribed circle.  Times are the best of ``--repeats`` runs: wall clock, and the
CPU seconds of this process (all threads; ASTRA's CPU FBP runs on one) — on a
shared, loaded machine the CPU seconds compare the work more fairly.

    python -m bench.recon_fbp2d_peers [--size 512] [--angles 720] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from skimage.data import shepp_logan_phantom
from skimage.transform import iradon, radon, resize

from recon.engine.backends import cpu
from recon.engine.fdk import fbp
from recon.engine.geometry import ParallelBeamGeometry, VolumeGeometry

CM_UM = 1e4  # a pixel of 1 cm: attenuation per cm is then the image value per pixel


def ours(sino: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Our FBP on scikit-image's grid: axis on column N // 2, rows flipped."""
    n = sino.shape[1]
    offset = n // 2 - (n - 1) / 2
    geometry = ParallelBeamGeometry((1, n), CM_UM, theta).with_axis_offset(offset)
    grid = VolumeGeometry((1, n, n), CM_UM, (0.0, offset * CM_UM, -offset * CM_UM))
    return np.flipud(fbp(sino[:, None, :], geometry, grid, backend="cpu")[0])


def astra_fbp() -> Callable[[np.ndarray, np.ndarray], np.ndarray] | str:
    """ASTRA's CPU FBP on scikit-image's grid, or why it is unavailable."""
    try:
        import astra
    except Exception as exc:  # report, do not fail the benchmark
        return f"not available ({exc}); install with: pip install astra-toolbox"

    def run(sino: np.ndarray, theta: np.ndarray) -> np.ndarray:
        n_angles, n = sino.shape
        # One zero column more puts ASTRA's detector centre ((N' − 1)/2) on N // 2;
        # the window puts pixel centres on scikit-image's (x = c − N//2, y = N//2 − r).
        padded = np.zeros((n_angles, n + 1), np.float32)
        padded[:, :n] = sino
        h = n // 2
        vol = astra.create_vol_geom(n, n, -h - 0.5, n - h - 0.5, -(n - h) + 0.5, h + 0.5)
        proj = astra.create_proj_geom("parallel", 1.0, n + 1, np.radians(theta))
        sid = astra.data2d.create("-sino", proj, padded)
        rid = astra.data2d.create("-vol", vol)
        pid = astra.create_projector("linear", proj, vol)
        cfg = astra.astra_dict("FBP")
        cfg.update(ProjectorId=pid, ProjectionDataId=sid, ReconstructionDataId=rid)
        cfg["option"] = {"FilterType": "ram-lak"}
        aid = astra.algorithm.create(cfg)
        try:
            astra.algorithm.run(aid)
            return astra.data2d.get(rid)
        finally:
            astra.algorithm.delete(aid)
            astra.data2d.delete([sid, rid])
            astra.projector.delete(pid)

    return run


def skimage_fbp(sino: np.ndarray, theta: np.ndarray) -> np.ndarray:
    return iradon(sino.T, theta, circle=True, filter_name="ramp", interpolation="linear")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--angles", type=int, default=720)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n = args.size
    image = resize(shepp_logan_phantom(), (n, n), anti_aliasing=True)
    theta = np.linspace(0.0, 180.0, args.angles, endpoint=False)
    t = time.perf_counter()
    sino = radon(image, theta, circle=True).T.astype(np.float32)  # (angles, cols)
    print(f"sinogram {sino.shape} by skimage.radon in {time.perf_counter() - t:.1f} s")
    yy, xx = np.mgrid[0:n, 0:n] - n // 2
    inside = np.hypot(yy, xx) < n // 2 - 2
    peak = float(image.max())
    ours(sino, theta)  # compile the kernels outside the timing
    runners = {
        f"nanoscope fbp (numba, {cpu.threads()} threads)": ours,
        "astra-toolbox FBP (CPU)": astra_fbp(),
        "scikit-image iradon": skimage_fbp,
    }
    print(f"{'method':38s} {'time (s)':>9s} {'CPU (s)':>8s} {'RMSE':>8s} {'RMSE / peak':>12s}")
    for name, run in runners.items():
        if isinstance(run, str):
            print(f"{name:38s} {run}")
            continue
        best = best_cpu = np.inf
        rec = None
        for _ in range(args.repeats):
            t, c = time.perf_counter(), time.process_time()
            rec = run(sino, theta)
            best = min(best, time.perf_counter() - t)
            best_cpu = min(best_cpu, time.process_time() - c)
        rmse = float(np.sqrt(np.mean((rec - image)[inside] ** 2)))
        print(f"{name:38s} {best:9.3f} {best_cpu:8.3f} {rmse:8.4f} {rmse / peak:12.4f}")


if __name__ == "__main__":
    main()
