"""Remodelling of the phantom's trabecular bone between time points.

Bone is added and removed on the trabecular surfaces, one day at a time, at the rates
of :func:`~acquisition.phantom.treatments.turnover_rates` (``%/day`` of the current
trabecular bone volume BV):

* each day ``n_f = rate_f · BV`` marrow voxels touching bone (6-neighbourhood, inside the
  trabecular compartment) become trabecular bone, and ``n_r = rate_r · BV`` trabecular
  voxels touching marrow become marrow (the fractions left over are carried to the next
  day, so equal rates give exactly equal counts: a sham animal's BV is constant);
* the voxels are chosen where a random "packet" field is highest: uniform noise on
  blocks of :data:`PACKET_VOXELS`³ voxels (grid shifted at random every day) plus a
  little per-voxel noise, so formation and resorption come in patches as basic
  multicellular units do, not as scattered voxels;
* newly formed bone starts at :data:`~acquisition.phantom.materials.NEW_BONE_DENSITY_MGHA_CM3`
  and mineralises towards the trabecular tissue density with time constant
  :data:`~acquisition.phantom.materials.MINERALISATION_DAYS`; the cortex is not remodelled.

Each day's random numbers come from ``(seed, day)`` only, so the phantom on day ``d`` is
a deterministic function of the animal's seed, its treatments and ``d``: a worker
regenerates any time point by replaying the days from the start (day
``min(0, first treatment)``), without storing earlier ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .generate import BonePhantom
from .materials import (
    MINERALISATION_DAYS,
    NEW_BONE_DENSITY_MGHA_CM3,
    TRABECULAR_DENSITY_MGHA_CM3,
    Tissue,
)
from .treatments import TreatmentSpec, turnover_rates

__all__ = ["PACKET_VOXELS", "phantom_at", "phantom_series", "start_day"]

PACKET_VOXELS = 4
"""Edge of the blocks over which formation/resorption sites are drawn (voxels)."""


def start_day(treatments: Sequence[TreatmentSpec]) -> int:
    """First simulated day: day 0, or the first treatment if that is earlier."""
    return min([0, *(int(t.start_day) for t in treatments)])


def _touches(mask: np.ndarray) -> np.ndarray:
    """Voxels with at least one 6-neighbour in ``mask`` (outside the array counts as False)."""
    out = np.zeros_like(mask)
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    out[:, :, 1:] |= mask[:, :, :-1]
    out[:, :, :-1] |= mask[:, :, 1:]
    return out


def _choose(
    candidates: np.ndarray, n: int, shape: tuple[int, ...], rng: np.random.Generator
) -> np.ndarray:
    """``n`` flat indices out of ``candidates``, where the packet field is highest."""
    if n <= 0 or candidates.size == 0:
        return candidates[:0]
    if n >= candidates.size:
        return candidates
    b = PACKET_VOXELS
    coarse = rng.random(tuple(s // b + 2 for s in shape))
    shift = rng.integers(0, b, size=3)
    k, j, i = np.unravel_index(candidates, shape)
    priority = coarse[(k + shift[0]) // b, (j + shift[1]) // b, (i + shift[2]) // b]
    priority += 0.3 * rng.random(candidates.size)
    return candidates[np.argpartition(-priority, n - 1)[:n]]


class _Remodeller:
    """The state being replayed: labels, day of formation of new voxels, carried fractions."""

    def __init__(self, base: BonePhantom, treatments: Sequence[TreatmentSpec]) -> None:
        self.base = base
        self.treatments = tuple(treatments)
        self.labels = base.labels.copy()
        self.formed_day = np.full(base.shape, np.nan, dtype=np.float32)
        self.day = start_day(self.treatments)
        self._carry = [0.0, 0.0]
        self._voi = base.trabecular_voi

    def step(self) -> None:
        """Advance one day."""
        labels, d = self.labels, self.day
        rates = turnover_rates(self.treatments, d + 0.5)
        trabecular = labels == Tissue.TRABECULAR_BONE
        bv = int(np.count_nonzero(trabecular))
        counts = []
        for which, rate in enumerate(rates):
            self._carry[which] += rate / 100.0 * bv
            n = int(math.floor(self._carry[which]))
            self._carry[which] -= n
            counts.append(n)
        rng = np.random.default_rng([int(self.base.seed), d + 1_000_000, 0x0B0E])
        bone = trabecular | (labels == Tissue.CORTICAL_BONE)
        marrow = (labels == Tissue.MARROW) & self._voi
        form_at = _choose(np.flatnonzero(marrow & _touches(bone)), counts[0], labels.shape, rng)
        resorb_at = _choose(
            np.flatnonzero(trabecular & _touches(marrow)), counts[1], labels.shape, rng
        )
        flat_labels, flat_formed = labels.reshape(-1), self.formed_day.reshape(-1)
        flat_labels[resorb_at] = Tissue.MARROW
        flat_formed[resorb_at] = np.nan
        flat_labels[form_at] = Tissue.TRABECULAR_BONE
        flat_formed[form_at] = d + 0.5
        self.day = d + 1

    def snapshot(self) -> BonePhantom:
        """The phantom as it is now (labels and mineral densities)."""
        density = self.base.density_mgha_cm3.copy()
        density[self.labels == Tissue.MARROW] = 0.0
        trabecular = self.labels == Tissue.TRABECULAR_BONE
        density[trabecular] = TRABECULAR_DENSITY_MGHA_CM3
        new = trabecular & np.isfinite(self.formed_day)
        age = self.day - self.formed_day[new]
        density[new] = TRABECULAR_DENSITY_MGHA_CM3 - (
            TRABECULAR_DENSITY_MGHA_CM3 - NEW_BONE_DENSITY_MGHA_CM3
        ) * np.exp(-age / MINERALISATION_DAYS)
        return self.base.with_state(
            day=float(self.day), labels=self.labels.copy(), density_mgha_cm3=density
        )


def phantom_series(
    base: BonePhantom, treatments: Sequence[TreatmentSpec], days: Sequence[int]
) -> list[BonePhantom]:
    """The phantom on each of ``days``, replayed in one pass.

    Parameters
    ----------
    base : BonePhantom
        The animal's phantom from :func:`~acquisition.phantom.make_phantom` (its anatomy
        on the first simulated day).
    treatments : sequence of TreatmentSpec
        The animal's treatments.
    days : sequence of int
        Study days, in any order (whole days; a day before the start gives the base).

    Returns
    -------
    list of BonePhantom
        In the order of ``days``.
    """
    if any(float(d) != int(d) for d in days):
        raise ValueError(f"days must be whole study days, got {list(days)}")
    days = [int(d) for d in days]
    remodeller = _Remodeller(base, treatments)
    out: dict[int, BonePhantom] = {}
    for day in sorted(set(days)):
        while remodeller.day < day:
            remodeller.step()
        out[day] = (
            remodeller.snapshot()
            if remodeller.day == day
            else base.with_state(
                day=float(day),
                labels=base.labels.copy(),
                density_mgha_cm3=base.density_mgha_cm3.copy(),
            )
        )
    return [out[d] for d in days]


def phantom_at(base: BonePhantom, treatments: Sequence[TreatmentSpec], day: int) -> BonePhantom:
    """The phantom on study ``day`` (see :func:`phantom_series`)."""
    return phantom_series(base, treatments, [day])[0]
