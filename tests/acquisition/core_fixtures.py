"""Small instruments, settings and scans for the Django-free acquisition tests."""

from __future__ import annotations

from pathlib import Path

from acquisition.drivers import AcquisitionSettings, scan_frames
from acquisition.drivers.simulated import SimulatedXrayMicroscope
from acquisition.formats import NXtomoWriter, WrittenScan

#: A 256² detector of 88 µm pixels (binned 4: 64² frames of 352 µm), a 48³ phantom.
SMALL_CONFIG = {
    "detector_shape": [256, 256],
    "pixel_um": 88.0,
    "phantom_shape": [48, 48, 48],
    "phantom_voxel_um": 25.0,
}


def small_settings(**overrides) -> AcquisitionSettings:
    """12 projections over 180°, 2 darks, 3 flats before and after, unpaced."""
    values = {
        "frame_rate_hz": 4.0,
        "n_projections": 12,
        "angular_range_deg": 180.0,
        "binning": 4,
        "n_flats": 3,
        "n_darks": 2,
        "flats_after": True,
        "seed": 7,
    }
    values.update(overrides)
    return AcquisitionSettings(**values)


def small_driver(**config) -> SimulatedXrayMicroscope:
    return SimulatedXrayMicroscope({**SMALL_CONFIG, **config})


def write_small_scan(path: Path, compression: str | None = None, **overrides) -> WrittenScan:
    """Acquire a small simulated scan and write it as NXtomo."""
    settings = small_settings(**overrides)
    driver = small_driver()
    driver.prepare(settings)
    geometry = driver.geometry()
    with NXtomoWriter(
        path,
        frame_shape=(geometry.n_rows, geometry.n_cols),
        geometry=geometry,
        settings=settings,
        sample_name="mouse 7",
        compression=compression,
    ) as writer:
        for frame in scan_frames(driver, settings):
            writer.append(frame)
        return writer.commit()
