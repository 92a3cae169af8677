"""CPU (numba) cone-beam FDK: voxel-updates/s, end-to-end time and peak memory.

Cases: 256³ from 360 projections of 256², and 512³ from 720 projections of
512² (``--quick``: 128³ × 180 and 256³ × 360).  Each case runs in a fresh
process so that its peak RSS (``resource.getrusage``) is its own.  The whole
volume goes through :func:`recon.engine.slabs.reconstruct_in_slabs` with a
memory limit chosen so that the process stays under ``--max-rss-gib``
(default 2.5) with the projections held in memory.

    python -m bench.recon_fdk_cpu [--quick] [--max-rss-gib 2.5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np

from bench.recon_common import micro_ct_geometry, peak_rss_mib, sphere_error, sphere_projections
from recon.engine.backends import cpu
from recon.engine.fdk import _filter_batch, projection_weights
from recon.engine.geometry import default_volume, detector_rows_for
from recon.engine.memory import plan_reconstruction
from recon.engine.slabs import reconstruct_in_slabs

FULL = [(256, 360), (512, 720)]
QUICK = [(128, 180), (256, 360)]


def current_rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * 4096


def run_case(n: int, n_angles: int, max_rss_gib: float) -> dict:
    """Reconstruct one case; returns the figures."""
    geometry = micro_ct_geometry(n, n_angles)
    volume = default_volume(geometry)
    small = micro_ct_geometry(32, 8)
    reconstruct_in_slabs(sphere_projections(small), small, backend="cpu")  # compile
    projections = sphere_projections(geometry)

    limit = int(max_rss_gib * 2**30) - current_rss_bytes() - 200 * 2**20
    plan = plan_reconstruction(geometry, volume, memory_limit_bytes=limit)
    t, c = time.perf_counter(), time.process_time()
    rec = reconstruct_in_slabs(
        projections, geometry, volume, memory_limit_bytes=limit, backend="cpu"
    )
    end_s, end_cpu_s = time.perf_counter() - t, time.process_time() - c
    updates = float(np.prod(volume.shape)) * n_angles
    peak_rss = peak_rss_mib()  # before the kernel-only run below allocates anything
    error = sphere_error(rec, volume)
    del rec

    # Kernel only: one 64-slice slab and the detector rows it projects onto (as in
    # the pipeline), filtered beforehand.
    slab = volume.slab(n // 2 - 32, n // 2 + 32)
    start, stop = detector_rows_for(geometry, slab)
    rows = geometry.crop_rows(start, stop)
    filtered = _filter_batch(projections[:, start:stop], rows, projection_weights(rows), "ram-lak")
    kg = rows.kernel_geometry()
    t, c = time.perf_counter(), time.process_time()
    cpu.backproject_fdk(filtered, kg, slab)
    kernel_s, kernel_cpu_s = time.perf_counter() - t, time.process_time() - c
    kernel_updates = float(np.prod(slab.shape)) * n_angles
    del filtered

    return {
        "case": f"{n}^3 x {n_angles} projections of {n}^2",
        "threads": cpu.threads(),
        "kernel_G_updates_per_s": kernel_updates / kernel_s / 1e9,
        "kernel_G_updates_per_cpu_s": kernel_updates / kernel_cpu_s / 1e9,
        "end_to_end_cpu_s": end_cpu_s,
        "end_to_end_s": end_s,
        "end_to_end_G_updates_per_s": updates / end_s / 1e9,
        "slab_slices": plan.slab_slices,
        "angle_batch": plan.angle_batch,
        "planned_peak_MiB": plan.estimate.total_bytes / 2**20,
        "peak_rss_MiB": peak_rss,
        "sphere_rms_error_per_cm": error,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="128³ and 256³ instead")
    parser.add_argument("--max-rss-gib", type=float, default=2.5)
    parser.add_argument("--case", help=argparse.SUPPRESS)  # n,angles: run one case here
    args = parser.parse_args()
    if args.case:
        n, n_angles = (int(v) for v in args.case.split(","))
        print(json.dumps(run_case(n, n_angles, args.max_rss_gib)))
        return
    for n, n_angles in QUICK if args.quick else FULL:
        cmd = [sys.executable, "-m", "bench.recon_fdk_cpu", "--case", f"{n},{n_angles}"]
        cmd += ["--max-rss-gib", str(args.max_rss_gib)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"{n}^3 x {n_angles}: FAILED\n{done.stderr}")
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"{r['case']}: {r['threads']} threads\n"
            f"  backprojection kernel   {r['kernel_G_updates_per_s']:.2f} G voxel-updates/s wall"
            f" ({r['threads'] * r['kernel_G_updates_per_cpu_s']:.2f} G/s on {r['threads']} "
            f"dedicated cores, from CPU time; above the wall rate when cores were shared)\n"
            f"  end to end (filtering, {r['slab_slices']}-slice slabs, batches of "
            f"{r['angle_batch']} angles) {r['end_to_end_s']:.1f} s = "
            f"{r['end_to_end_G_updates_per_s']:.2f} G voxel-updates/s "
            f"(CPU time {r['end_to_end_cpu_s']:.1f} s)\n"
            f"  peak RSS {r['peak_rss_MiB']:.0f} MiB (reconstruction planned for "
            f"{r['planned_peak_MiB']:.0f} MiB beside the projections)\n"
            f"  sphere RMS error {r['sphere_rms_error_per_cm']:.4f} /cm (value 1.0 /cm)"
        )


if __name__ == "__main__":
    main()
