"""Benchmark: the NXtomo writer fed by the simulated detector at full size (2048² uint16).

Prints, for a run of ``--frames`` frames (default 200; 8 MiB each):

1. **paced** at 40 frames/s: a detector process delivers frames on an absolute 40 Hz
   clock into a shared-memory ring buffer of ``--buffer`` frames (the camera's frame
   buffer); a frame that finds every slot still waiting for the writer is *dropped*
   (must be 0). The writer (this process) drains the buffer into the file. Reports
   dropped frames, the deepest the buffer got, and the writer process's peak resident
   memory (RSS, sampled every frame) — without and with LZ4;
2. **unthrottled**: frames appended as fast as the writer takes them, then fsynced, in
   MB/s of raw frames, beside the disk's sequential write rate measured in the same run
   (``dd``-like: the same bytes in 8 MiB writes, then fsync); also the rate including
   the commit (close, rename, and the sha256 pass that re-reads the file), for no
   compression, LZ4, Blosc-LZ4 and Blosc-Zstd, with the compression ratio (raw bytes /
   file bytes).

The frames are a pool of simulated frames (darks, flats and ``--pool`` projections of the
128³ tibia phantom through the full-size detector, Poisson noise included) made by
:class:`~acquisition.drivers.simulated.SimulatedXrayMicroscope` before the timing starts:
at full size the simulator itself computes ~2 frames/s on two cores, so the benchmark
times the *writer*, cycling through the pool (each delivered frame is a fresh copy).

Run: ``.venv/bin/python -m bench.acquisition_writer [--frames 200] [--dir /path]``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import resource
import tempfile
import time
from dataclasses import replace
from multiprocessing import shared_memory
from pathlib import Path

import numpy as np

from acquisition.drivers import AcquisitionSettings, Frame, FrameType, scan_frames
from acquisition.drivers.simulated import SimulatedXrayMicroscope
from acquisition.formats import NXtomoWriter

MIB = 1024 * 1024
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mib() -> float:
    """Current resident set size of this process (MiB)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE / MIB


def make_pool(n_projections: int) -> tuple[list[Frame], AcquisitionSettings, object]:
    """Darks, flats and projections of the phantom at 2048² (binning 1)."""
    driver = SimulatedXrayMicroscope({"phantom_shape": (128, 128, 128)})
    settings = AcquisitionSettings(
        frame_rate_hz=40.0,
        exposure_s=0.025,
        n_projections=n_projections,
        angular_range_deg=360.0,
        binning=1,
        n_flats=2,
        n_darks=2,
        seed=1,
    )
    # The stage limit forbids 45° steps at 40 Hz; the pool is made unpaced at a low rate.
    pool_settings = replace(settings, frame_rate_hz=0.1)
    driver.prepare(pool_settings)
    frames = list(scan_frames(driver, pool_settings))
    return frames, settings, driver.geometry()


def frame_sequence(pool: list[Frame], n: int):
    """``n`` frames: the pool's darks and flats, then projections cycling through the pool."""
    refs = [f for f in pool if f.kind != FrameType.PROJECTION]
    projections = [f for f in pool if f.kind == FrameType.PROJECTION]
    for k in range(n):
        if k < len(refs):
            yield refs[k]
        else:
            j = k - len(refs)
            src = projections[j % len(projections)]
            yield Frame(src.image, 360.0 * j / n, k / 40.0, FrameType.PROJECTION, j)


def _writer(path: Path, settings, geometry, compression, n) -> NXtomoWriter:
    return NXtomoWriter(
        path,
        frame_shape=(geometry.n_rows, geometry.n_cols),
        geometry=geometry,
        settings=settings,
        sample_name="benchmark phantom",
        compression=compression,
        expected_frames=n,
    )


def _detector(frames, ring, free, filled, n, period, dropped, late_us) -> None:
    """The camera, in its own process: one frame every ``period`` s into a free slot."""
    t0 = time.perf_counter()
    for k, frame in enumerate(frames):
        due = t0 + (k + 1) * period
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        late_us.value = max(late_us.value, int((time.perf_counter() - due) * 1e6))
        try:
            slot = free.get_nowait()
        except queue.Empty:
            dropped.value += 1  # every slot still waits for the writer: frame lost
            continue
        ring[slot] = frame.image
        filled.put((slot, k))
    filled.put(None)


def run_paced(pool, settings, geometry, folder: Path, n: int, buffer: int, compression):
    """Detector process at 40 Hz → shared ring buffer of ``buffer`` frames → writer.

    The detector runs in a separate (forked) process, as a camera's acquisition runs
    beside the software that stores its frames, so the writer's pauses (file-system
    stalls, the GIL) show up as a filling buffer and, if it overflows, dropped frames.
    """
    ctx = mp.get_context("fork")
    shape = (buffer, geometry.n_rows, geometry.n_cols)
    shm = shared_memory.SharedMemory(create=True, size=int(np.prod(shape)) * 2)
    ring = np.ndarray(shape, np.uint16, buffer=shm.buf)
    free, filled = ctx.Queue(), ctx.Queue()
    for slot in range(buffer):
        free.put(slot)
    dropped, late_us = ctx.Value("i", 0), ctx.Value("q", 0)
    sequence = list(frame_sequence(pool, n))
    detector = ctx.Process(
        target=_detector,
        args=(sequence, ring, free, filled, n, 1.0 / 40.0, dropped, late_us),
        daemon=True,
    )
    os.sync()  # start with no dirty pages of the runs before
    rss_before = peak_rss = rss_mib()
    max_depth = 0
    path = folder / f"paced-{compression}.h5"
    try:
        with _writer(path, settings, geometry, compression, n) as writer:
            detector.start()
            first = None
            while (item := filled.get()) is not None:
                slot, k = item
                first = time.perf_counter() if first is None else first
                max_depth = max(max_depth, buffer - free.qsize())
                writer.append(replace(sequence[k], image=ring[slot]))
                free.put(slot)
                peak_rss = max(peak_rss, rss_mib())
            last = time.perf_counter()
            written = writer.commit()
            commit_s = time.perf_counter() - last
        detector.join()
    finally:
        del ring
        shm.close()
        shm.unlink()
    path.unlink()
    return {
        "written": written.n_frames,
        "dropped": dropped.value,
        "max_depth": max_depth,
        "fps": (written.n_frames - 1) / (last - first),
        "rss_before": rss_before,
        "peak_rss": peak_rss,
        "late_ms": late_us.value / 1e3,
        "commit_s": commit_s,
    }


def run_unthrottled(pool, settings, geometry, folder: Path, n: int, compression):
    """Append as fast as possible, fsync, then commit (close, rename, sha256).

    Returns MB/s of raw frame data for append + fsync (comparable with the disk's
    write + fsync), for the whole thing including the commit's sha256 pass, and the
    compression ratio.
    """
    path = folder / f"fast-{compression}.h5"
    raw = 0
    os.sync()  # start with no dirty pages of the runs before
    with _writer(path, settings, geometry, compression, n) as writer:
        start = time.perf_counter()
        for frame in frame_sequence(pool, n):
            writer.append(frame)
            raw += frame.image.nbytes
        fd = os.open(writer.partial_path, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
        synced = time.perf_counter()
        written = writer.commit()
        done = time.perf_counter()
    path.unlink()
    return {
        "mb_s_write": raw / 1e6 / (synced - start),
        "mb_s": raw / 1e6 / (done - start),
        "commit_s": done - synced,
        "ratio": raw / written.n_bytes,
    }


def disk_rate(folder: Path, n_bytes: int) -> float:
    """Sequential write rate of the disk (MB/s): 8 MiB writes of random bytes, then fsync."""
    block = np.random.default_rng(0).integers(0, 256, 8 * MIB, dtype=np.uint8).tobytes()
    path = folder / "dd.bin"
    os.sync()
    start = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        written = 0
        while written < n_bytes:
            written += os.write(fd, block)
        os.fsync(fd)
    finally:
        os.close(fd)
    elapsed = time.perf_counter() - start
    path.unlink()
    return written / 1e6 / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200, help="frames per run (8 MiB each)")
    parser.add_argument("--pool", type=int, default=8, help="distinct simulated projections")
    parser.add_argument("--buffer", type=int, default=16, help="detector buffer (frames)")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: temp)")
    args = parser.parse_args()

    t = time.perf_counter()
    pool, settings, geometry = make_pool(args.pool)
    settings = replace(settings, n_projections=args.frames - 4)  # what the file records
    print(
        f"pool: {len(pool)} simulated frames of {geometry.n_rows}×{geometry.n_cols} uint16 "
        f"in {time.perf_counter() - t:.1f} s; {args.frames} frames per run "
        f"= {args.frames * 8 * MIB / 1e9:.2f} GB; cores: {os.cpu_count()}"
    )
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="nanoscope-bench-") as tmp:
        folder = Path(tmp)
        print(f"load average {os.getloadavg()[0]:.1f} (other work on the machine)")
        print(f"\n[paced 40 frames/s, buffer {args.buffer} frames] in {folder}")
        for compression in (None, "lz4"):
            r = run_paced(pool, settings, geometry, folder, args.frames, args.buffer, compression)
            print(
                f"  {str(compression):10s} written {r['written']:4d}  dropped {r['dropped']}  "
                f"max buffer depth {r['max_depth']:2d}  achieved {r['fps']:.1f} frames/s  "
                f"RSS {r['rss_before']:.0f} → peak {r['peak_rss']:.0f} MiB  "
                f"commit {r['commit_s']:.1f} s  (detector clock at most {r['late_ms']:.1f} ms late)"
            )
        n_bytes = args.frames * geometry.n_rows * geometry.n_cols * 2
        disk = disk_rate(folder, n_bytes)
        print(f"\n[unthrottled] disk sequential write (same bytes, fsync): {disk:.0f} MB/s")
        for compression in (None, "lz4", "blosc-lz4", "blosc-zstd"):
            r = run_unthrottled(pool, settings, geometry, folder, args.frames, compression)
            print(
                f"  {str(compression):10s} {r['mb_s_write']:6.0f} MB/s written+fsynced "
                f"({r['mb_s_write'] / disk:.2f} × disk); with the commit (sha256) "
                f"{r['mb_s']:5.0f} MB/s (commit {r['commit_s']:.1f} s)  ratio {r['ratio']:.2f}"
            )
        print(f"  disk again after these runs: {disk_rate(folder, n_bytes):.0f} MB/s")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"\nprocess peak RSS (whole run, incl. the pool): {usage.ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
