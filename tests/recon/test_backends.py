"""Backend selection (the CPU backend is what every other test exercises)."""

import numpy as np
import pytest

from recon.engine.backends import cpu, get_backend, gpu_available


def test_named_backends():
    assert get_backend("cpu") is cpu
    assert get_backend(cpu) is cpu
    with pytest.raises(ValueError, match="backend"):
        get_backend("opencl")


@pytest.mark.skipif(gpu_available(), reason="a GPU is present here")
def test_without_a_gpu_auto_is_cpu_and_gpu_is_refused():
    assert get_backend("auto") is cpu
    with pytest.raises(RuntimeError, match="CuPy"):
        get_backend("gpu")


def test_kernel_layout_round_trip():
    p = np.arange(2 * 3 * 5, dtype=np.float32).reshape(2, 3, 5)
    t = cpu.to_kernel_layout(p)
    assert t.shape == (2, 5 + 2 * cpu.PAD, 3 + 2 * cpu.PAD)
    assert t[:, : cpu.PAD].sum() == 0 and t[:, :, -cpu.PAD :].sum() == 0
    np.testing.assert_array_equal(cpu.from_kernel_layout(t), p)


def test_accumulator_adds_batches():
    from recon.engine.geometry import ParallelBeamGeometry, VolumeGeometry

    g = ParallelBeamGeometry((4, 8), 1.0, [0.0, 90.0])
    volume = VolumeGeometry((4, 8, 8), 1.0)
    kg = g.kernel_geometry()
    p = np.ones(g.projection_shape, np.float32)
    both = cpu.finish_volume(cpu.backproject_fdk(p, kg, volume))
    acc = cpu.backproject_fdk(p[:1], kg._replace(cos=kg.cos[:1], sin=kg.sin[:1]), volume)
    acc = cpu.backproject_fdk(p[1:], kg._replace(cos=kg.cos[1:], sin=kg.sin[1:]), volume, acc)
    np.testing.assert_allclose(cpu.finish_volume(acc), both)
    np.testing.assert_allclose(both[1:3, 1:7, 1:7], 2.0)  # inside: one from each angle


def test_tilted_kernel_agrees_with_untilted_fast_path():
    """A vanishing tilt takes the general (tilted) kernel; it must match the fast path."""
    from recon.engine.geometry import ConeBeamGeometry, VolumeGeometry

    rng = np.random.default_rng(5)
    flat = ConeBeamGeometry(
        (20, 24),
        20.0,
        np.arange(0.0, 360.0, 15.0),
        sod_um=3000.0,
        sdd_um=6000.0,
        offset_u_um=13.0,
        offset_v_um=-7.0,
    )
    tilted = ConeBeamGeometry(
        (20, 24),
        20.0,
        np.arange(0.0, 360.0, 15.0),
        sod_um=3000.0,
        sdd_um=6000.0,
        offset_u_um=13.0,
        offset_v_um=-7.0,
        detector_tilt_deg=1e-9,
    )
    volume = VolumeGeometry((16, 20, 20), 10.0, (3.0, -4.0, 5.0))
    p = rng.random(flat.projection_shape).astype(np.float32)
    fast = cpu.finish_volume(cpu.backproject_fdk(p, flat.kernel_geometry(), volume))
    general = cpu.finish_volume(cpu.backproject_fdk(p, tilted.kernel_geometry(), volume))
    assert np.abs(fast).max() > 1.0
    np.testing.assert_allclose(general, fast, atol=1e-4 * np.abs(fast).max())


def _midpoints(p: np.ndarray) -> np.ndarray:
    """Rows with a sample added half-way between neighbours (zero beyond the last column).

    Linear interpolation on this grid is exactly linear interpolation on the original
    one, so a backprojection of these rows with ``column_upsampling=2`` must equal the
    plain one: any slip in the kernels' fine-column mapping breaks the equality.
    """
    fine = np.zeros((*p.shape[:-1], 2 * p.shape[-1]), np.float32)
    fine[..., ::2] = p
    fine[..., 1:-1:2] = 0.5 * (p[..., :-1] + p[..., 1:])
    fine[..., -1] = 0.5 * p[..., -1]
    return fine


@pytest.mark.parametrize(
    "kind, nz",
    [("cone", 16), ("cone-tilted", 16), ("parallel", 4), ("parallel", 24)],
)
def test_upsampled_columns_map_onto_the_same_detector_positions(kind, nz):
    """Every kernel (cone, tilted, parallel thin-slab rows and thick slabs)."""
    from recon.engine.geometry import ConeBeamGeometry, ParallelBeamGeometry, VolumeGeometry

    angles = np.arange(0.0, 360.0, 15.0)
    if kind == "parallel":
        geometry = ParallelBeamGeometry((28, 24), 10.0, angles, offset_u_um=13.0)
    else:
        tilt = 1.5 if kind == "cone-tilted" else 0.0
        geometry = ConeBeamGeometry(
            (28, 24),
            20.0,
            angles,
            sod_um=3000.0,
            sdd_um=6000.0,
            offset_u_um=13.0,
            offset_v_um=-7.0,
            detector_tilt_deg=tilt,
        )
    volume = VolumeGeometry((nz, 14, 14), 10.0, (3.0, -4.0, 5.0))
    rng = np.random.default_rng(3)
    p = rng.random(geometry.projection_shape).astype(np.float32)
    p[..., :2] = 0.0  # the fine grid starts half a column later: keep the edges empty
    p[..., -2:] = 0.0
    kg = geometry.kernel_geometry()
    coarse = cpu.finish_volume(cpu.backproject_fdk(p, kg, volume))
    fine = cpu.finish_volume(cpu.backproject_fdk(_midpoints(p), kg, volume, column_upsampling=2))
    assert np.abs(coarse).max() > 1.0
    np.testing.assert_allclose(fine, coarse, atol=1e-5 * np.abs(coarse).max())


def test_filtered_columns_must_match_the_upsampling():
    from recon.engine.geometry import ParallelBeamGeometry, VolumeGeometry

    g = ParallelBeamGeometry((4, 8), 1.0, [0.0, 90.0])
    p = np.ones(g.projection_shape, np.float32)
    with pytest.raises(ValueError, match="column_upsampling"):
        cpu.backproject_fdk(p, g.kernel_geometry(), VolumeGeometry((4, 8, 8), 1.0), None, 8, 2)
