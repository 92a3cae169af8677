"""The scan → volume pipeline on a simulated scan with a known axis offset and phantom."""

from __future__ import annotations

import numpy as np
import pytest

from acquisition.formats.scan import ScanData
from recon import pipeline
from recon.volume_store import read_metadata, read_slice
from tests.recon.scans import (
    AXIS_OFFSET_PX,
    COLS,
    CYLINDER_MU,
    ROD_MU,
    ROWS,
    VOXEL_UM,
    simulated_scan,
)


@pytest.fixture(scope="module")
def scan() -> ScanData:
    return simulated_scan()


def _disc_mean(volume: np.ndarray, cx_um: float, cy_um: float, r_um: float) -> float:
    n = volume.shape[-1]
    c = (np.arange(n) - (n - 1) / 2) * VOXEL_UM
    y, x = np.meshgrid(c, c, indexing="ij")
    inside = (x - cx_um) ** 2 + (y - cy_um) ** 2 <= r_um**2
    return float(volume[:, inside].mean())


@pytest.fixture(scope="module")
def reconstructed(scan, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pipeline")
    out = folder / "volume.h5"
    params = pipeline.ReconstructionParameters(backend="cpu", filter="hann")
    result = pipeline.reconstruct_scan(
        scan, out, params, scratch_dir=folder, provenance={"source_sha256": "0" * 64}
    )
    return result, out, folder


def test_centre_is_found_within_a_quarter_pixel(reconstructed):
    result, _, _ = reconstructed
    assert result.centre_source == "found"
    assert result.axis_offset_px == pytest.approx(AXIS_OFFSET_PX, abs=0.25)


def test_attenuation_of_the_phantom_is_recovered(reconstructed):
    result, out, _ = reconstructed
    assert result.shape == (ROWS, COLS, COLS)
    assert result.voxel_size_um == pytest.approx(VOXEL_UM)
    middle = np.stack([read_slice(out, 0, k) for k in range(15, 25)])
    # Interiors only (away from edges, which the apodised ramp blurs): ±5 % and ±10 %.
    assert _disc_mean(middle, -80.0, -60.0, 60.0) == pytest.approx(CYLINDER_MU, rel=0.05)
    assert _disc_mean(middle, 90.0, 40.0, 25.0) == pytest.approx(ROD_MU, rel=0.10)
    assert _disc_mean(middle, 0.0, 0.0, 1e9) < CYLINDER_MU  # air around it is not bone


def test_volume_file_records_provenance_and_leaves_no_scratch(reconstructed):
    result, out, folder = reconstructed
    meta = read_metadata(out)
    assert meta.units == "1/cm"
    assert meta.provenance["source_sha256"] == "0" * 64
    assert meta.provenance["axis_offset_px"] == pytest.approx(result.axis_offset_px)
    assert meta.provenance["parameters"]["filter"] == "hann"
    assert meta.provenance["backend"] == "cpu"
    assert sorted(p.name for p in folder.iterdir()) == ["volume.h5"]
    assert set(result.timings_s) == {"preprocess_s", "centre_s", "reconstruct_s", "total_s"}


def test_given_centre_and_calibration_are_used(scan, tmp_path):
    params = pipeline.ReconstructionParameters(backend="cpu", axis_offset_px=1.5, z_range=(18, 22))
    calibration = pipeline.Calibration(slope=200.0, intercept=-100.0)
    result = pipeline.reconstruct_scan(
        scan, tmp_path / "v.h5", params, scratch_dir=tmp_path, calibration=calibration
    )
    assert (result.centre_source, result.axis_offset_px) == ("given", 1.5)
    assert result.shape == (4, COLS, COLS)
    assert result.units == "mgHA/cm3"
    volume = np.stack([read_slice(tmp_path / "v.h5", 0, k) for k in range(4)])
    expected = 200.0 * CYLINDER_MU - 100.0
    assert _disc_mean(volume, -80.0, -60.0, 60.0) == pytest.approx(expected, rel=0.06)
    assert read_metadata(tmp_path / "v.h5").calibration == {"slope": 200.0, "intercept": -100.0}


def test_slab_parallel_equals_one_piece(scan, tmp_path):
    params = pipeline.ReconstructionParameters(backend="cpu", axis_offset_px=1.5)
    scratch = pipeline.preprocess_to_scratch(scan, tmp_path / "li.h5", params)
    import h5py

    with h5py.File(scratch, "r") as f:
        geometry, _ = pipeline.find_scan_centre(f["line_integrals"], scan, params)
        pipeline.reconstruct_to_store(f["line_integrals"], geometry, tmp_path / "one.h5", params)
    slabs = [
        pipeline.reconstruct_slab_file(scratch, geometry, params, z, tmp_path / f"s{i}.h5")
        for i, z in enumerate([(25, 40), (0, 11), (11, 25)])
    ]
    pipeline.assemble_slab_files(slabs, (ROWS, COLS, COLS), VOXEL_UM, tmp_path / "slabs.h5")
    for axis, index in ((0, 12), (1, 30), (2, 33)):
        np.testing.assert_allclose(
            read_slice(tmp_path / "slabs.h5", axis, index),
            read_slice(tmp_path / "one.h5", axis, index),
            rtol=1e-5, atol=1e-5,
        )  # fmt: skip


def test_overlapping_slabs_are_refused_and_leave_nothing(scan, tmp_path):
    params = pipeline.ReconstructionParameters(backend="cpu", axis_offset_px=0.0)
    scratch = pipeline.preprocess_to_scratch(scan, tmp_path / "li.h5", params)
    geometry = pipeline.cone_geometry(scan, 0.0)
    a = pipeline.reconstruct_slab_file(scratch, geometry, params, (0, 30), tmp_path / "a.h5")
    b = pipeline.reconstruct_slab_file(scratch, geometry, params, (20, 40), tmp_path / "b.h5")
    with pytest.raises(ValueError, match="overlaps"):
        pipeline.assemble_slab_files([a, b], (ROWS, COLS, COLS), VOXEL_UM, tmp_path / "v.h5")
    assert not (tmp_path / "v.h5").exists()


def test_flats_equal_to_darks_are_a_clear_error(scan, tmp_path):
    broken = ScanData(
        scan.path, scan.format, scan.projections, scan.darks, scan.darks, scan.angles_deg,
        scan.geometry,
    )  # fmt: skip
    params = pipeline.ReconstructionParameters(backend="cpu")
    with pytest.raises(ValueError, match="flat"):
        pipeline.reconstruct_scan(broken, tmp_path / "v.h5", params, scratch_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_saturated_flats_are_a_clear_error(scan, tmp_path):
    saturated = np.full_like(scan.flats, 65535)
    broken = ScanData(
        scan.path, scan.format, scan.projections, saturated, scan.darks, scan.angles_deg,
        scan.geometry,
    )  # fmt: skip
    params = pipeline.ReconstructionParameters(backend="cpu")
    with pytest.raises(ValueError, match="100% of flat-field pixels are saturated"):
        pipeline.reconstruct_scan(broken, tmp_path / "v.h5", params, scratch_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"algorithm": "art"}, "algorithm"),
        ({"filter": "box"}, "filter"),
        ({"iterations": 0}, "iterations"),
        ({"z_range": [5, 2]}, "z_range"),
        ({"centre": 3}, "unknown"),
    ],
)
def test_bad_parameters_name_the_field(values, message):
    with pytest.raises(ValueError, match=message):
        pipeline.ReconstructionParameters.from_dict(values)


def test_an_instruments_attenuation_line_is_inverted():
    """μ = 0.268 + 0.9e-3·ρ (1/cm, ρ in mgHA/cm³): μ of 0 and 1000 mgHA/cm³ map back."""
    calibration = pipeline.Calibration.from_attenuation_line(0.268, 0.9e-3)
    mu = np.array([0.268, 0.268 + 0.9], dtype=np.float32)
    np.testing.assert_allclose(calibration.apply(mu), [0.0, 1000.0], atol=0.05)
