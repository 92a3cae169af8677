"""The simulated X-ray microscope behind the driver protocol."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from acquisition.drivers import (
    AcquisitionAborted,
    FrameType,
    InstrumentState,
    InterlockError,
    SettingsError,
    XrayMicroscope,
    n_scan_frames,
    scan_frames,
)
from acquisition.drivers.simulated import FramePacer
from acquisition.phantom import make_phantom
from tests.acquisition.core_fixtures import small_driver, small_settings


def test_implements_the_protocol_and_describes_the_reference_detector():
    driver = small_driver(detector_shape=[2048, 2048], pixel_um=11.0)
    assert isinstance(driver, XrayMicroscope)
    det = driver.capabilities.detector
    assert (det.n_rows, det.n_cols, det.pixel_um) == (2048, 2048, 11.0)
    assert det.max_frame_rate_hz == 40.0
    assert det.binnings == (1, 2, 4)
    assert det.bit_depth == 16


def test_a_scan_yields_darks_flats_projections_flats_in_order():
    driver, settings = small_driver(), small_settings()
    driver.prepare(settings)
    frames = list(scan_frames(driver, settings))
    kinds = [f.kind for f in frames]
    assert len(frames) == n_scan_frames(settings) == 2 + 3 + 12 + 3
    assert (
        kinds
        == [FrameType.DARK] * 2
        + [FrameType.FLAT] * 3
        + [FrameType.PROJECTION] * 12
        + [FrameType.FLAT] * 3
    )
    projections = [f for f in frames if f.kind == FrameType.PROJECTION]
    assert [f.angle_deg for f in projections] == pytest.approx(np.arange(12) * 15.0)
    assert [f.index for f in projections] == list(range(12))
    # Unpaced: nominal timestamps, one frame period apart.
    assert [f.timestamp_s for f in frames] == pytest.approx(np.arange(1, 21) / 4.0)
    for f in frames:
        assert f.image.shape == (64, 64)
        assert f.image.dtype == np.uint16
    assert driver.status().state == InstrumentState.PREPARED


def test_frames_show_dark_open_beam_and_attenuation_by_the_sample():
    driver, settings = small_driver(), small_settings()
    driver.prepare(settings)
    frames = list(scan_frames(driver, settings))
    dark = frames[0].image.astype(float)
    flat = frames[2].image.astype(float)
    projection = frames[5].image.astype(float)
    assert dark.mean() == pytest.approx(100.05, abs=0.5)
    n0 = driver.model.open_beam_photons(settings.kv, settings.ua, settings.exposure_s, 250_000.0)
    assert (flat - dark.mean()).mean() == pytest.approx(n0, rel=0.05)
    # The sample absorbs (a few % at 40 keV through a mouse leg; noise is ≈ 1.1 % per
    # pixel); the air in the corners does not.
    transmission = (projection - 100) / (flat - 100)
    assert transmission[24:40, 24:40].min() < 0.96
    assert transmission[:6, :6].mean() == pytest.approx(1.0, abs=0.01)


def test_same_seed_gives_identical_frames_other_seed_differs():
    def run(seed):
        driver, settings = (
            small_driver(),
            small_settings(seed=seed, n_projections=4, frame_rate_hz=1.0),
        )
        driver.prepare(settings)
        return [f.image for f in scan_frames(driver, settings)]

    a, b, c = run(11), run(11), run(12)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[-1], c[-1])


def test_loaded_sample_replaces_the_default_phantom():
    driver, settings = (
        small_driver(),
        small_settings(n_projections=2, frame_rate_hz=0.5, flats_after=False),
    )
    phantom = make_phantom("L5-vertebra", shape=(32, 32, 32), voxel_um=40.0, seed=2)
    driver.load_sample(np.zeros((32, 32, 32), np.float32), 40.0)
    driver.prepare(settings)
    empty = [f.image for f in driver.acquire_projections()]
    driver.load_sample(phantom.mu_per_cm, phantom.voxel_um)
    driver.prepare(settings)
    full = [f.image for f in driver.acquire_projections()]
    assert full[0].mean() < empty[0].mean() - 50
    with pytest.raises(ValueError, match="mu_per_cm"):
        driver.load_sample(np.zeros((4, 4)), 10.0)


def test_abort_from_another_thread_stops_a_paced_scan():
    driver = small_driver()
    settings = small_settings(frame_rate_hz=2.0, n_projections=40, paced=True)
    driver.prepare(settings)
    received = []
    with pytest.raises(AcquisitionAborted):
        for frame in driver.acquire_projections():
            received.append(frame)
            if len(received) == 2:
                threading.Timer(0.05, driver.abort).start()
    assert 2 <= len(received) < 40
    assert driver.status().state == InstrumentState.ABORTED
    assert driver.status().interlocks.source_on is False


class _FakeTime:
    """A clock and an abort event whose wait() advances the clock instead of sleeping."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now

    def wait(self, timeout):
        self.now += timeout
        return False


def test_pacer_keeps_an_absolute_schedule_and_restarts_after_a_pause():
    fake = _FakeTime()
    pacer = FramePacer(0.025, fake, fake)
    due = []
    for _ in range(3):
        fake.now += 0.004  # frame computation
        pacer.wait()
        due.append(fake.now)
    assert np.diff(due) == pytest.approx([0.025, 0.025])  # no drift from compute time
    fake.now += 10.0  # the job pauses between frames
    resumed_at = fake.now
    after = []
    for _ in range(3):
        pacer.wait()
        after.append(fake.now)
    assert after[0] == pytest.approx(resumed_at + 0.025)  # no burst to catch up
    assert np.diff(after) == pytest.approx([0.025, 0.025])


def test_open_door_is_refused_before_any_exposure():
    driver = small_driver(door_closed=False)
    with pytest.raises(InterlockError, match="door"):
        driver.prepare(small_settings())
    assert driver.status().state == InstrumentState.FAULT
    with pytest.raises(RuntimeError, match="prepare"):
        next(driver.acquire_projections())


def test_warm_detector_is_refused():
    with pytest.raises(InterlockError, match="detector at 5.0"):
        small_driver(detector_temperature_c=5.0).prepare(small_settings())


@pytest.mark.parametrize(
    "override, message",
    [
        ({"kv": 150.0}, "kv=150"),
        ({"ua": 300.0}, "ua=300"),
        ({"frame_rate_hz": 50.0}, "frame_rate_hz=50"),
        ({"binning": 3}, "binning=3"),
        ({"exposure_s": 1.0}, "exposure_s"),
        ({"frame_rate_hz": 40.0, "n_projections": 12}, "stage limit"),
    ],
)
def test_settings_outside_the_capabilities_are_refused(override, message):
    with pytest.raises(SettingsError, match=message):
        small_driver().prepare(small_settings(**override))


def test_unknown_config_key_is_named():
    with pytest.raises(ValueError, match="detector_shap"):
        small_driver(detector_shap=[4, 4])


def test_true_geometry_has_the_configured_misalignment_and_nominal_does_not():
    driver = small_driver(axis_offset_px=8.0, detector_tilt_deg=0.5)
    driver.prepare(small_settings())
    true, nominal = driver.true_geometry(), driver.geometry()
    # 8 unbinned pixels are 2 binned pixels.
    assert true.axis_column == pytest.approx(31.5 + 2.0)
    assert true.detector_tilt_deg == 0.5
    assert nominal.axis_pixel_position == 31.5
    assert nominal.pixel_um == 352.0
    assert nominal.voxel_um_at_axis == pytest.approx(35.2)
