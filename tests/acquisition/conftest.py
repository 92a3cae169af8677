"""Acquisition fixtures: a tiny simulated instrument, a tiny protocol, a fake frame source.

Scans are kept tiny: a 32 × 32 detector binned by 4 (8 × 8 frames), 12 projections,
2 flats and 2 darks, a 16³ phantom, unpaced.  The ``world`` of the studies tests
(study A with a member per role, study B with its owner) is reused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest

from acquisition import models as am
from acquisition.drivers.base import AcquisitionSettings, Frame, FrameType, ScanGeometry
from acquisition.drivers.simulated import SimulatedXrayMicroscope
from tests.studies.conftest import START, World, make_user, world  # noqa: F401 — fixtures

TINY_DRIVER_CONFIG = {
    "detector_shape": [32, 32],
    "phantom_shape": [16, 16, 16],
    "phantom_voxel_um": 40.0,
}

TINY_PROTOCOL = {
    "site": "tibia-right-proximal",
    "kv": 60.0,
    "ua": 100.0,
    "exposure_s": 0.025,
    "frame_rate_hz": 3.0,
    "n_projections": 12,
    "angular_range_deg": 360.0,
    "binning": 4,
    "voxel_size_um": 40.0,
    "n_flats": 2,
    "n_darks": 2,
}
#: 0.12 mGy/(µA·s) × 100 µA × 0.025 s × 12 projections at the reference 60 kV.
TINY_DOSE_MGY = 3.6
#: 2 darks + 2 flats + 12 projections.
TINY_FRAMES = 16


@pytest.fixture
def instrument(db) -> am.Instrument:
    return am.Instrument.objects.create(
        name="XRM-sim", driver="simulated", driver_config=TINY_DRIVER_CONFIG
    )


@pytest.fixture
def protocol(instrument) -> am.ScanProtocol:
    return am.ScanProtocol.objects.create(instrument=instrument, name="tiny", **TINY_PROTOCOL)


@pytest.fixture
def staff(db):
    user = make_user("staff")
    user.is_staff = True
    user.save()
    return user


class FakeDriver:
    """A frame source for the job tests: 2×2 frames, with hooks at known points.

    ``on_prepare()`` runs in ``prepare`` (after the job was claimed, before any frame);
    ``on_frame(n)`` runs before frame ``n`` (0-based over the whole scan) is yielded, so
    a test can set a flag in the database at a known point of the scan.
    """

    def __init__(
        self,
        on_frame: Callable[[int], None] | None = None,
        fail_at: int | None = None,
        on_prepare: Callable[[], None] | None = None,
    ):
        self.on_frame = on_frame or (lambda n: None)
        self.on_prepare = on_prepare or (lambda: None)
        self.fail_at = fail_at
        self.aborted = False
        self.frames_yielded = 0
        self.settings: AcquisitionSettings | None = None

    @property
    def capabilities(self):
        return SimulatedXrayMicroscope(TINY_DRIVER_CONFIG).capabilities

    def status(self):
        return None

    def prepare(self, settings: AcquisitionSettings) -> None:
        self.settings = settings
        self.on_prepare()

    def geometry(self) -> ScanGeometry:
        return ScanGeometry(25_000.0, 250_000.0, 44.0, 2, 2, 0.5)

    def _frames(self, kind: FrameType, count: int, angles) -> Iterator[Frame]:
        for index in range(count):
            n = self.frames_yielded
            if self.fail_at == n:
                raise RuntimeError(f"detector fault at frame {n}")
            self.on_frame(n)
            self.frames_yielded += 1
            image = np.full((2, 2), 1000 + n, dtype=np.uint16)
            yield Frame(image, float(angles[index]), n * 0.1, kind, index)

    def acquire_darks(self):
        return self._frames(FrameType.DARK, self.settings.n_darks, [0.0] * 99)

    def acquire_flats(self):
        return self._frames(FrameType.FLAT, self.settings.n_flats, [0.0] * 99)

    def acquire_projections(self):
        s = self.settings
        step = s.angular_range_deg / s.n_projections
        return self._frames(
            FrameType.PROJECTION, s.n_projections, [k * step for k in range(s.n_projections)]
        )

    def abort(self) -> None:
        self.aborted = True


__all__ = [
    "START",
    "TINY_DOSE_MGY",
    "TINY_FRAMES",
    "TINY_PROTOCOL",
    "FakeDriver",
    "World",
    "make_user",
]
