"""Remodelling of the phantom's trabecular bone between time points.

Bone is added and removed on the trabecular surfaces, one day at a time, at the rates
of :func:`~acquisition.phantom.treatments.turnover_rates` (``%/day`` of the current
trabecular bone volume BV):

* each day ``n_f = rate_f · BV`` marrow voxels touching trabecular bone (6-neighbourhood,
  inside the trabecular compartment) become trabecular bone, and ``n_r = rate_r · BV``
  trabecular voxels touching marrow become marrow (the fractions left over are carried
  to the next day, so equal rates give exactly equal counts: a sham animal's BV is
  constant, and since both act on the same trabecular surfaces it stays so in any part of
  the compartment — the endocortical surface is not remodelled);
* the voxels are chosen by a random "packet" field: uniform noise on blocks of
  :data:`PACKET_VOXELS`³ voxels plus a little per-voxel noise, kept for a remodelling
  period of :data:`PACKET_DAYS` days; resorption takes the blocks where it is highest,
  formation those where it is lowest — so, as basic multicellular units do, each works
  the same sites day after day, building packets and cavities several voxels deep rather
  than scattered single voxels, and new bone is not resorbed within the period;
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

PACKET_DAYS = 10
"""Days a formation or resorption site stays active: the packet field is redrawn once per
period (a remodelling site's resorption lasts ≈ 2 weeks in rodents)."""

_VOXEL_NOISE = 0.05
"""Per-voxel noise added to the packet field (breaks ties inside a block)."""


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
    candidates: np.ndarray,
    n: int,
    shape: tuple[int, ...],
    field_rng: np.random.Generator,
    rng: np.random.Generator,
    *,
    lowest: bool = False,
) -> np.ndarray:
    """``n`` flat indices out of ``candidates``, where the packet field is highest
    (``lowest``: where it is lowest).

    ``field_rng`` draws the packet field (the same for every day of a remodelling
    period); ``rng`` draws the day's per-voxel noise.
    """
    if n <= 0 or candidates.size == 0:
        return candidates[:0]
    if n >= candidates.size:
        return candidates
    b = PACKET_VOXELS
    coarse = field_rng.random(tuple(s // b + 2 for s in shape))
    shift = field_rng.integers(0, b, size=3)
    k, j, i = np.unravel_index(candidates, shape)
    priority = coarse[(k + shift[0]) // b, (j + shift[1]) // b, (i + shift[2]) // b]
    if lowest:
        priority = 1.0 - priority
    priority += _VOXEL_NOISE * rng.random(candidates.size)
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
        seed = int(self.base.seed)
        rng = np.random.default_rng([seed, d + 1_000_000, 0x0B0E])
        period = (d + 1_000_000) // PACKET_DAYS

        def field() -> np.random.Generator:
            return np.random.default_rng([seed, period, 0xF1E1D])

        marrow = (labels == Tissue.MARROW) & self._voi
        form_at = _choose(
            np.flatnonzero(marrow & _touches(trabecular)),
            counts[0],
            labels.shape,
            field(),
            rng,
            lowest=True,
        )
        resorb_at = _choose(
            np.flatnonzero(trabecular & _touches(marrow)), counts[1], labels.shape, field(), rng
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
