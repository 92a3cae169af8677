"""GPU (CuPy) cone-beam FDK: 512³ voxels from 720 projections of 512².

Prints the backprojection kernel time, G voxel-updates/s, and the end-to-end
time of ``fdk(..., backend="gpu")`` from numpy projections in host memory to a
numpy volume (transfers, weighting, cuFFT filtering, backprojection, copy back).

    python -m bench.recon_fdk_gpu [--size 512] [--angles 720] [--repeats 3] [--variants]

Without ``--variants``: the default kernel at 2, 4, 8 and 16 z-voxels per thread, then
end to end.  With ``--variants``: every backprojection variant of the GPU backend
(``recon.engine.backends.gpu.DEFAULT_VARIANT`` describes them) at 8 and 16 z-voxels per
thread — kernel time (texture upload and upsampling included), G voxel-updates/s, and
``max |gpu - cpu| / max |cpu|`` against the CPU backend's backprojection of the same
filtered 64³ × 180 Shepp–Logan projections (cone, cone with a tilted and offset
detector, parallel beam on half-column steps) — then each variant end to end, and
which variants meet the goals (≥ 300 G voxel-updates/s, ≤ 2 s end to end, CPU
agreement ≤ 1e-3).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.recon_common import micro_ct_geometry, peak_rss_mib, sphere_error, sphere_projections
from recon.engine.backends import cpu, get_backend, gpu_available
from recon.engine.fdk import _filter_batch, fdk, projection_weights
from recon.engine.geometry import default_volume
from tests.recon.backprojection_cases import CASES, backproject, filtered_case

SPEED_GOAL = 300.0
"""G voxel-updates/s the FDK backprojection should reach at 512³ × 720."""
END_TO_END_GOAL_S = 2.0
"""Seconds for ``fdk(backend="gpu")`` at 512³ × 720, host to host."""
AGREEMENT_GOAL = 1e-3
"""``max |gpu - cpu| / max |cpu|`` the engine promises."""
VARIANT_Z_PER_THREAD = (8, 16)
ACCURACY_SIZE = 64
"""Detector and volume size of the accuracy cases (``tests.recon.backprojection_cases``:
180 projections, the test suite's sampling; the texture variants' error grows as angles
get fewer, 1.4–1.6x at 90 in a CPU emulation)."""


def _kernel_seconds(gpu, proj, kg, volume, repeats: int, **options) -> list[float]:
    """CUDA-event times of ``repeats`` backprojections after one untimed call (compile).

    A texture variant's timed call includes binding (and upsampling) its projections.
    """
    import cupy as cp

    times = []
    for _ in range(repeats + 1):
        acc = gpu.new_accumulator(volume)
        start, stop = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        gpu.backproject_layout(proj, kg, volume, acc, **options)
        stop.record()
        stop.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, stop) / 1e3)
        del acc
    return times[1:]


def _accuracy_case(case: str) -> tuple:
    """``(filtered, kernel geometry, volume, L)`` of one small case and its CPU result."""
    filtered = filtered_case(case, ACCURACY_SIZE)
    return filtered, backproject(cpu, *filtered)


def _agreement(gpu, case: tuple, variant: str, z_per_thread: int) -> float:
    """``max |gpu - cpu| / max |cpu|`` of one variant on one small case."""
    filtered, reference = case
    result = backproject(gpu, *filtered, variant=variant, z_per_thread=z_per_thread)
    return float(np.abs(result - reference).max() / np.abs(reference).max())


def _variant_table(gpu, proj, kg, volume, n_angles: int, repeats: int) -> dict[str, bool]:
    """Time and check every variant; returns whether each met the kernel goals."""
    t = time.perf_counter()
    cases = {case: _accuracy_case(case) for case in CASES}
    print(
        f"CPU references ({ACCURACY_SIZE}³ x 180 Shepp–Logan: "
        f"{', '.join(CASES)}) in {time.perf_counter() - t:.1f} s"
    )
    updates = float(np.prod(volume.shape)) * n_angles
    print(
        f"{'variant':10s} {'zper':>4s} {'kernel s':>9s} {'G upd/s':>8s}   "
        f"max|gpu-cpu|/max|cpu|: {' / '.join(CASES)}   goals"
    )
    meets = {}
    for variant in gpu.VARIANTS:
        meets[variant] = False
        for z_per_thread in VARIANT_Z_PER_THREAD:
            try:
                times = _kernel_seconds(
                    gpu, proj, kg, volume, repeats, z_per_thread=z_per_thread, variant=variant
                )
                errors = [_agreement(gpu, cases[c], variant, z_per_thread) for c in cases]
            except Exception as exc:  # report and go on to the next variant
                print(f"{variant:10s} {z_per_thread:4d} FAILED {type(exc).__name__}: {exc}")
                continue
            speed = updates / min(times) / 1e9
            fast_enough = speed >= SPEED_GOAL
            agrees = max(errors) <= AGREEMENT_GOAL
            meets[variant] |= fast_enough and agrees
            print(
                f"{variant:10s} {z_per_thread:4d} {min(times):9.3f} {speed:8.1f}   "
                f"{' / '.join(f'{e:.2e}' for e in errors)}   "
                f"speed {'ok' if fast_enough else 'NO'}, agreement {'ok' if agrees else 'NO'}"
                f"  (times {[round(x, 3) for x in times]})"
            )
    return meets


def _zper_sweep(gpu, proj, kg, volume, n_angles: int, repeats: int) -> None:
    """The default kernel at 2, 4, 8 and 16 z-voxels per thread."""
    updates = float(np.prod(volume.shape)) * n_angles
    for z_per_thread in (2, 4, 8, 16):
        times = _kernel_seconds(gpu, proj, kg, volume, repeats, z_per_thread=z_per_thread)
        kernel_s = min(times)
        default = " (default)" if z_per_thread == gpu.Z_PER_THREAD else ""
        print(
            f"kernel '{gpu.DEFAULT_VARIANT}', {z_per_thread:2d} z-voxels per thread{default}: "
            f"{volume.shape} x {n_angles} angles: best {kernel_s:.3f} s of "
            f"{[round(x, 3) for x in times]} -> {updates / kernel_s / 1e9:.1f} G voxel-updates/s"
        )


def _end_to_end(gpu, projections, geometry, volume, variant: str, repeats: int) -> float:
    """Best host-to-host seconds of ``fdk(backend="gpu")`` with ``variant`` as the default."""
    updates = float(np.prod(volume.shape)) * geometry.n_angles
    default = gpu.DEFAULT_VARIANT
    gpu.DEFAULT_VARIANT = variant
    try:
        ends = []
        rec = None
        for _ in range(repeats):
            t = time.perf_counter()
            rec = fdk(projections, geometry, backend="gpu")
            gpu.synchronize()
            ends.append(time.perf_counter() - t)
    finally:
        gpu.DEFAULT_VARIANT = default
    end_s = min(ends)
    print(
        f"end-to-end fdk(backend='gpu'), variant '{variant}': best {end_s:.2f} s of "
        f"{[round(x, 2) for x in ends]} -> {updates / end_s / 1e9:.1f} G voxel-updates/s "
        f"overall; sphere RMS error {sphere_error(rec, volume):.4f} /cm (value 1.0 /cm)"
    )
    return end_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--angles", type=int, default=720)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variants", action="store_true", help="time and check every variant")
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
    if args.variants:
        meets = _variant_table(gpu, proj, kg, volume, n_angles, args.repeats)
    else:
        _zper_sweep(gpu, proj, kg, volume, n_angles, args.repeats)
    del proj
    cp.get_default_memory_pool().free_all_blocks()

    variants = tuple(gpu.VARIANTS) if args.variants else (gpu.DEFAULT_VARIANT,)
    ends = {}
    for variant in variants:
        try:
            ends[variant] = _end_to_end(gpu, projections, geometry, volume, variant, args.repeats)
        except Exception as exc:  # report and go on to the next variant
            print(f"end-to-end, variant '{variant}': FAILED {type(exc).__name__}: {exc}")
        cp.get_default_memory_pool().free_all_blocks()
    if args.variants:
        winners = [v for v in variants if meets.get(v) and ends.get(v, np.inf) <= END_TO_END_GOAL_S]
        print(
            f"variants meeting every goal (>= {SPEED_GOAL:.0f} G voxel-updates/s, "
            f"<= {END_TO_END_GOAL_S:.0f} s end to end, CPU agreement <= {AGREEMENT_GOAL:.0e}): "
            f"{', '.join(winners) or 'none'}"
        )
    print(f"host peak RSS {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
