"""Fixtures of the viewer tests: the studies' small world and volume files under the data root."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from recon.models import Volume
from recon.volume_store import read_metadata, write_volume
from studies import models as m
from studies.datafiles import absolute
from tests.studies.conftest import World, world  # noqa: F401 — shared fixture

SHAPE = (24, 20, 16)  # z, y, x
VOXEL_UM = 5.0
CALIBRATION = {"slope": 500.0, "intercept": -100.0}


def ramp(shape=SHAPE) -> np.ndarray:
    """``v = 100 z + 10 y + x / 10`` (1/cm): every voxel's value names its index."""
    z, y, x = np.indices(shape, dtype=np.float32)
    return 100 * z + 10 * y + x / 10


def remodelling_labels(shape=SHAPE) -> np.ndarray:
    """Formed (2) in the block z 4:12, y 4:10, x 2:8; resorbed (3) at z 14:20, y 10:16, x 8:14."""
    labels = np.zeros(shape, np.uint8)
    labels[4:12, 4:10, 2:8] = 2
    labels[14:20, 10:16, 8:14] = 3
    return labels


def make_volume(session, name: str, volume: np.ndarray, labels=None, **options) -> Volume:
    """Write ``volume`` under the data root and record it for ``session``."""
    relative = f"study-{session.animal.study_id}/session-{session.pk}/{name}.h5"
    path = absolute(relative)
    path.parent.mkdir(parents=True, exist_ok=True)
    options.setdefault("calibration", CALIBRATION)
    options.setdefault("chunk", 8)
    options.setdefault("min_level_size", 4)
    sha = write_volume(path, volume, VOXEL_UM, "1/cm", labels=labels, **options)
    meta = read_metadata(path)
    # bulk_create sends no post_save: the analyses that a landing volume starts stay out.
    (record,) = Volume.objects.bulk_create(
        [
            Volume(
                session=session,
                relative_path=relative,
                sha256=sha,
                size_bytes=path.stat().st_size,
                shape=list(volume.shape),
                voxel_size_um=VOXEL_UM,
                units="1/cm",
                n_levels=len(meta.shapes),
            )
        ]
    )
    return record


@pytest.fixture
def volume(world):  # noqa: F811 — the imported fixture
    """A ramp volume with remodelling labels in study A (24 × 20 × 16, 5 µm)."""
    return make_volume(world.session, "ramp", ramp(), labels={"remodelling": remodelling_labels()})


@pytest.fixture
def foreign_volume(world):  # noqa: F811
    """A volume of study B, which study A's members must not see."""
    session = m.ScanSession.objects.create(
        animal=world.other_animal,
        site="tibia-right-proximal",
        planned_at=world.other_study.datetime_of_day(7, dt.time(10)),
    )
    return make_volume(session, "foreign", ramp())
