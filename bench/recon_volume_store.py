"""Volume-store chunk layouts: orthogonal slice read time and file size.

Writes the same bone-like volume in several HDF5 layouts and times reading one full
slice along each axis (z: axial, y: coronal, x: sagittal) with a warm page cache, plus
one 256² tile of the sagittal slice.  The layout the store uses for grey values
(``recon.volume_store``: 64³ chunks, unfiltered) is compared with one chunk per z-slice
(the naive layout), gzip and LZ4: noisy float32 values do not compress, and a filtered
chunk is read and decoded whole for every slice through it.

Run::

    .venv/bin/python -m bench.recon_volume_store            # 256³, float32
    .venv/bin/python -m bench.recon_volume_store --size 512

Figures are medians of ``--repeats`` reads at different positions; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np
from scipy import ndimage

from recon.volume_store import OpenVolumes, read_region, read_slice, read_tile, write_volume


def bone_like_volume(n: int, seed: int = 0) -> np.ndarray:
    """Smoothed random field thresholded into 'bone' with noise, float32 1/cm."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.standard_normal((n, n, n), dtype=np.float32), 3)
    bone = field > np.quantile(field, 0.8)
    return (0.5 + 4.0 * bone + rng.normal(0, 0.3, bone.shape)).astype(np.float32)


LAYOUTS = {
    "z-slice chunks, gzip-4": lambda n: {
        "chunks": (1, n, n),
        "compression": "gzip",
        "compression_opts": 4,
    },
    "64³ chunks, gzip-1": lambda n: {
        "chunks": (64,) * 3,
        "compression": "gzip",
        "compression_opts": 1,
    },
    "32³ chunks, LZ4": lambda n: {"chunks": (32,) * 3, **hdf5plugin.LZ4()},
    "64³ chunks, LZ4": lambda n: {"chunks": (64,) * 3, **hdf5plugin.LZ4()},
    "64³ chunks, unfiltered": lambda n: {"chunks": (64,) * 3},
}


def _time_reads(read, n: int, repeats: int) -> float:
    positions = np.linspace(n // 8, n - 1 - n // 8, repeats).astype(int)
    times = []
    for index in positions:
        t0 = time.perf_counter()
        read(int(index))
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def _row(name: str, path: Path, n: int, repeats: int, read_slice_fn, read_tile_fn) -> None:
    ms = [_time_reads(lambda i, a=axis: read_slice_fn(a, i), n, repeats) for axis in range(3)]
    tile = _time_reads(read_tile_fn, n, repeats)
    size = path.stat().st_size / 2**20
    print(f"{name:36s} {ms[0]:9.1f} {ms[1]:9.1f} {ms[2]:9.1f} {tile:10.2f} {size:9.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="edge of the cubic volume")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    n = args.size
    volume = bone_like_volume(n)
    tile = slice(0, min(256, n))
    print(f"volume {n}³ float32 ({volume.nbytes / 2**20:.0f} MiB); median ms per read")
    print(
        f"{'layout':36s} {'axial':>9s} {'coronal':>9s} {'sagittal':>9s} {'256² tile':>10s} "
        f"{'MiB':>9s}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for number, (name, options) in enumerate(LAYOUTS.items()):
            path = Path(tmp) / f"layout-{number}.h5"
            with h5py.File(path, "w") as f:
                f.create_dataset("v", data=volume, **options(n))
            with h5py.File(path, "r") as f:
                d = f["v"]
                _row(
                    name,
                    path,
                    n,
                    args.repeats,
                    lambda axis, i, d=d: d[(slice(None),) * axis + (i,)],
                    lambda i, d=d: d[tile, tile, i],
                )
        path = Path(tmp) / "store.h5"
        write_volume(path, volume, 1.0, "1/cm")
        # The store's one-off readers open the file per call (h5py); the slice endpoint
        # reads through the open, memory-mapped file (read_region, OpenVolumes).
        _row(
            "store: 64³ unfiltered (+open/close)",
            path,
            n,
            args.repeats,
            lambda axis, i: read_slice(path, axis, i),
            lambda i: read_tile(path, 2, i, tile, tile),
        )
        files = OpenVolumes()
        _row(
            "store: mapped (endpoint's)",
            path,
            n,
            args.repeats,
            lambda axis, i: read_region(path, axis, i, files=files),
            lambda i: read_region(path, 2, i, 0, tile, tile, files=files),
        )
        files.close()


if __name__ == "__main__":
    main()
