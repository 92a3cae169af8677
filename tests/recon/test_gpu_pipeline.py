"""A raw scan reconstructed by the pipeline on the GPU gives the CPU's volume file.

Skipped without a CUDA GPU.  Self-contained like ``test_gpu_backend.py`` (no conftest
fixtures), so that ``bench/gpu_check.sh`` runs it on a bare GPU machine with
``--noconftest``; skipped there too if that machine's Python lacks h5py or hdf5plugin.
"""

import numpy as np
import pytest

from recon.engine.backends import gpu_available

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not gpu_available(), reason="needs CuPy and a CUDA GPU"),
]

pytest.importorskip("h5py")
pytest.importorskip("hdf5plugin")

from recon import pipeline  # noqa: E402  (after the checks above)
from recon.volume_store import read_metadata, read_slice  # noqa: E402

from .scans import AXIS_OFFSET_PX, simulated_scan  # noqa: E402


def _reconstruct(scan, folder, backend: str):
    folder.mkdir()
    out = folder / "volume.h5"
    params = pipeline.ReconstructionParameters(backend=backend, filter="hann")
    result = pipeline.reconstruct_scan(
        scan, out, params, scratch_dir=folder, provenance={"source_sha256": "0" * 64}
    )
    volume = np.stack([read_slice(out, 0, k) for k in range(result.shape[0])])
    return result, volume, out


def test_the_automatic_backend_reconstructs_a_scan_on_the_gpu_as_the_cpu_does(tmp_path):
    scan = simulated_scan()
    on_cpu, cpu_volume, _ = _reconstruct(scan, tmp_path / "cpu", "cpu")
    on_gpu, gpu_volume, out = _reconstruct(scan, tmp_path / "auto", "auto")

    assert (on_cpu.backend, on_gpu.backend) == ("cpu", "gpu")
    assert read_metadata(out).provenance["backend"] == "gpu"
    # The centre search runs on the host: the same offset, found within a quarter pixel.
    assert on_gpu.axis_offset_px == on_cpu.axis_offset_px
    assert on_gpu.axis_offset_px == pytest.approx(AXIS_OFFSET_PX, abs=0.25)
    assert gpu_volume.shape == cpu_volume.shape == on_gpu.shape
    assert np.abs(gpu_volume - cpu_volume).max() < 1e-3 * np.abs(cpu_volume).max()
