"""Reading volumes for many requests: the open-file cache, regions, the histogram."""

from __future__ import annotations

import numpy as np
import pytest

from recon import volume_store as vs
from tests.viewer.conftest import ramp


@pytest.fixture
def ramp_file(tmp_path):
    path = tmp_path / "ramp.h5"
    vs.write_volume(path, ramp(), 5.0, "1/cm", chunk=8, min_level_size=4)
    return path


def test_read_region_equals_read_slice_and_numpy(ramp_file):
    files = vs.OpenVolumes(max_files=2)
    volume = ramp()
    np.testing.assert_array_equal(vs.read_region(ramp_file, 1, 5, files=files), volume[:, 5, :])
    tile = vs.read_region(ramp_file, 2, 3, 0, slice(2, 9), slice(4, 11), files=files)
    np.testing.assert_array_equal(tile, volume[2:9, 4:11, 3])
    np.testing.assert_array_equal(
        vs.read_region(ramp_file, 0, 2, 1, files=files), vs.read_slice(ramp_file, 0, 2, level=1)
    )
    with pytest.raises(ValueError, match="level"):
        vs.read_region(ramp_file, 0, 0, 9, files=files)
    with pytest.raises(ValueError, match="index"):
        vs.read_region(ramp_file, 0, 24, files=files)


def test_open_volumes_keeps_at_most_max_files_open(tmp_path):
    files = vs.OpenVolumes(max_files=2)
    paths = []
    for k in range(3):
        paths.append(tmp_path / f"v{k}.h5")
        vs.write_volume(paths[-1], np.full((4, 4, 4), k, np.float32), 1.0, "1/cm")
    first = files.dataset(paths[0], "volume", 0)
    assert files.dataset(paths[0], "volume", 0) is first  # the same open dataset
    files.dataset(paths[1], "volume", 0)
    files.dataset(paths[2], "volume", 0)
    assert not first.id.valid  # the least recently used file was closed
    assert files.dataset(paths[0], "volume", 0)[0, 0, 0] == 0.0  # and reopens
    files.close()


def test_level_histogram_counts_every_voxel_between_min_and_max(ramp_file):
    hist = vs.level_histogram(ramp_file, 0, bins=10)
    volume = ramp()
    assert sum(hist["counts"]) == volume.size
    assert hist["min"] == pytest.approx(0.0)
    assert hist["max"] == pytest.approx(float(volume.max()))
    assert hist["edges"][0] == pytest.approx(0.0) and len(hist["edges"]) == 11
    counts, _ = np.histogram(volume, bins=10, range=(0.0, float(volume.max())))
    assert hist["counts"] == counts.tolist()
    assert hist["p01"] == pytest.approx(float(np.percentile(volume, 0.5)), rel=1e-6)
    assert hist["mean"] == pytest.approx(float(volume.mean()), rel=1e-6)
