"""Shared fixtures: the phantom pair, rendered once per test session."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from analysis.registration import RigidTransform, register_rigid

from .phantom import centres, inside, render

VOXEL_UM = 10.0
INTERVAL_DAYS = 10.0
GROWN = 3
TRUE_MOTION = RigidTransform(angles_deg=(2.0, -3.0, 4.0), translation_um=(20.0, -15.0, 12.0))
NOISE_MGHA = 50.0


@pytest.fixture(scope="session")
def baseline() -> np.ndarray:
    return render(0)


@pytest.fixture(scope="session")
def moved_pair() -> tuple[np.ndarray, np.ndarray]:
    """Noisy baseline and a noisy follow-up seen through ``TRUE_MOTION``."""
    rng = np.random.default_rng(20110433)
    base = render(0)
    base = base + rng.normal(0.0, NOISE_MGHA, base.shape).astype(np.float32)
    follow = render(GROWN, to_baseline=TRUE_MOTION.inverse(), voxel_um=VOXEL_UM)
    follow = follow + rng.normal(0.0, NOISE_MGHA, follow.shape).astype(np.float32)
    return base, follow


@pytest.fixture(scope="session")
def unchanged_mask() -> np.ndarray:
    """Baseline structures that do not remodel (all but the plate), dilated."""
    x, y, z = centres()
    return ndimage.binary_dilation(inside(x, y, z, 0) & (np.abs(z) > 9), iterations=3)


@pytest.fixture(scope="session")
def registration(moved_pair, unchanged_mask):
    base, follow = moved_pair
    return register_rigid(base, follow, VOXEL_UM, fixed_mask=unchanged_mask)
