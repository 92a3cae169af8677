"""GPU (CuPy) cone-beam FDK: 512³ voxels from 720 projections of 512².

Prints the backprojection kernel time, G voxel-updates/s, and the end-to-end
time of ``fdk(..., backend="gpu")`` from numpy projections in host memory to a
numpy volume (transfers, weighting, cuFFT filtering, backprojection, copy back).

    python -m bench.recon_fdk_gpu [--size 512] [--angles 720] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.recon_common import micro_ct_geometry, peak_rss_mib, sphere_error, sphere_projections
from recon.engine.backends import get_backend, gpu_available
from recon.engine.fdk import _filter_batch, fdk, projection_weights
from recon.engine.geometry import default_volume


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--angles", type=int, default=720)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not gpu_available():
        print("recon_fdk_gpu: no CuPy/CUDA GPU here; nothing to measure")
        return
    import cupy as cp

    gpu = get_backend("gpu")
    dev = cp.cuda.Device()
    props = cp.cuda.runtime.getDeviceProperties(dev.id)
    print(f"device: {props['name'].decode()}  CuPy {cp.__version__}")
    n, n_angles = args.size, args.angles
    geometry = micro_ct_geometry(n, n_angles)
    volume = default_volume(geometry)
    t = time.perf_counter()
    projections = sphere_projections(geometry)
    print(f"projections {projections.shape} made in {time.perf_counter() - t:.1f} s")

    # Warm up: NVRTC compile and cuFFT plans on a small problem.
    small = micro_ct_geometry(64, 16)
    fdk(sphere_projections(small), small, backend="gpu")

    # Kernel only: filtered projections already on the device, in the kernel layout.
    weights = projection_weights(geometry)
    filtered = _filter_batch(projections, geometry, weights, "ram-lak", gpu)
    proj = gpu.layout(filtered)
    del filtered
    kg = geometry.kernel_geometry()
    updates = float(np.prod(volume.shape)) * n_angles
    for z_per_thread in (2, 4, 8, 16):
        times = []
        for _ in range(args.repeats + 1):  # the first call compiles this variant
            acc = gpu.new_accumulator(volume)
            start, stop = cp.cuda.Event(), cp.cuda.Event()
            start.record()
            gpu.backproject_layout(proj, kg, volume, acc, z_per_thread=z_per_thread)
            stop.record()
            stop.synchronize()
            times.append(cp.cuda.get_elapsed_time(start, stop) / 1e3)
            del acc
        kernel_s = min(times[1:])
        default = " (default)" if z_per_thread == gpu.Z_PER_THREAD else ""
        print(
            f"kernel, {z_per_thread:2d} z-voxels per thread{default}: {volume.shape} x "
            f"{n_angles} angles: best {kernel_s:.3f} s of {[round(x, 3) for x in times[1:]]} "
            f"-> {updates / kernel_s / 1e9:.1f} G voxel-updates/s"
        )
    # The texture-unit variant: speed, and its difference from the exact kernel.
    try:
        exact = gpu.backproject_layout(proj, kg, volume)
        times = []
        for _ in range(args.repeats + 1):
            acc = gpu.new_accumulator(volume)
            start, stop = cp.cuda.Event(), cp.cuda.Event()
            start.record()
            gpu.backproject_layout_texture(proj, kg, volume, acc)
            stop.record()
            stop.synchronize()
            times.append(cp.cuda.get_elapsed_time(start, stop) / 1e3)
        difference = float(cp.linalg.norm(acc - exact) / cp.linalg.norm(exact))
        kernel_s = min(times[1:])
        print(
            f"kernel, texture fetch (not the default): best {kernel_s:.3f} s of "
            f"{[round(x, 3) for x in times[1:]]} -> {updates / kernel_s / 1e9:.1f} G "
            f"voxel-updates/s; relative difference from the exact kernel {difference:.2e}"
        )
        del acc, exact
    except Exception as exc:  # report and go on to the end-to-end figures
        print(f"kernel, texture fetch: FAILED {type(exc).__name__}: {exc}")
    del proj
    cp.get_default_memory_pool().free_all_blocks()

    # End to end.
    ends = []
    rec = None
    for _ in range(args.repeats):
        t = time.perf_counter()
        rec = fdk(projections, geometry, backend="gpu")
        gpu.synchronize()
        ends.append(time.perf_counter() - t)
    end_s = min(ends)
    print(
        f"end-to-end fdk(backend='gpu'): best {end_s:.2f} s of {[round(x, 2) for x in ends]} "
        f"-> {updates / end_s / 1e9:.1f} G voxel-updates/s overall"
    )
    print(f"sphere RMS error {sphere_error(rec, volume):.4f} /cm (value 1.0 /cm)")
    print(f"host peak RSS {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
