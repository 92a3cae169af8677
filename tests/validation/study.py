"""The demo study's treatments as phantom data, and the scans of its animals.

:data:`DEMO_TREATMENTS` mirrors the cohorts of ``studies/demo.py`` ("OVX and
zoledronate": sham or ovariectomy on day 0, saline or zoledronate 100 µg/kg s.c.
weekly, five administrations from day 0) as
:class:`~acquisition.phantom.TreatmentSpec` lists, without importing Django.

:func:`remodelling_against_truth` measures an animal's remodelling between consecutive
scans with :func:`analysis.measurement.measure_remodelling_pair` and its ``region``
argument (a user-defined VOI instead of the automatic compartments), beside the
phantom's truth in the same region.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from acquisition.phantom import TreatmentSpec, make_phantom, phantom_series, remodelling_rates
from analysis.measurement import RemodellingFigures, measure_remodelling_pair

from .simulate import PHANTOM_SHAPE, VOXEL_UM, inset_region, reconstruct_calibrated

__all__ = ["DEMO_TREATMENTS", "StudyScans", "remodelling_against_truth", "scan_seed"]

_WEEKLY = {"start_day": 0, "interval_days": 7, "n_administrations": 5}
DEMO_TREATMENTS: dict[str, tuple[TreatmentSpec, ...]] = {
    "Sham": (
        TreatmentSpec("surgery", "sham", 0),
        TreatmentSpec("vehicle", "saline", dose=5.0, dose_unit="mL/kg", **_WEEKLY),
    ),
    "OVX + vehicle": (
        TreatmentSpec("surgery", "ovariectomy", 0),
        TreatmentSpec("vehicle", "saline", dose=5.0, dose_unit="mL/kg", **_WEEKLY),
    ),
    "OVX + zoledronate": (
        TreatmentSpec("surgery", "ovariectomy", 0),
        TreatmentSpec("drug", "zoledronate", dose=100.0, dose_unit="ug/kg", **_WEEKLY),
    ),
}
"""Cohort name → the treatments of its animals (as ``studies/demo.py`` seeds them)."""


def scan_seed(seed: int, day: int, cohort: str) -> int:
    """Noise seed of one scan: one per animal's baseline, else one per scan."""
    if day == 0:
        return 1000 * seed
    return 1000 * seed + 10 * day + list(DEMO_TREATMENTS).index(cohort) + 1


class StudyScans:
    """Scans of the demo study's animals, made on demand and kept.

    Day 0 precedes every treatment's effect (all start on day 0), so one baseline scan
    per seed serves the three cohorts, as one anatomy given each treatment.

    Parameters
    ----------
    site : str
        Anatomical site of every phantom.
    scratch : pathlib.Path
        Folder for the pipeline's files (removed as each scan is read back).
    """

    def __init__(self, site: str, scratch: Path) -> None:
        self.site = site
        self.scratch = Path(scratch)
        self.results: dict[tuple[int, str | None, int], tuple] = {}

    def get(self, seed: int, cohort: str, day: int) -> tuple:
        """``(density, calibration, axis_offset_px)`` of an animal's scan on ``day``."""
        if cohort not in DEMO_TREATMENTS and day != 0:
            raise ValueError(f"cohort must be one of {list(DEMO_TREATMENTS)}, got {cohort!r}")
        key = (seed, None if day == 0 else cohort, day)
        if key not in self.results:
            base = make_phantom(self.site, PHANTOM_SHAPE, VOXEL_UM, seed=seed)
            phantom = base if day == 0 else phantom_series(base, DEMO_TREATMENTS[cohort], [day])[0]
            self.results[key] = reconstruct_calibrated(
                phantom, scan_seed(seed, day, cohort), self.scratch
            )
        return self.results[key]

    def volume(self, seed: int, cohort: str, day: int) -> np.ndarray:
        """Calibrated density (mgHA/cm³, ``[z, y, x]``) of an animal's scan on ``day``."""
        return self.get(seed, cohort, day)[0]


def remodelling_against_truth(
    scans: StudyScans,
    seed: int,
    cohort: str,
    days: Sequence[int],
    parameters: dict[str, Any],
    region_of: Callable[[np.ndarray], np.ndarray] = inset_region,
) -> list[tuple[int, int, tuple[float, float], RemodellingFigures]]:
    """Measured and true remodelling of one animal between consecutive scans.

    Parameters
    ----------
    scans : StudyScans
        Where the calibrated scans come from.
    seed, cohort, days
        The animal, its cohort (:data:`DEMO_TREATMENTS`) and its scan days, ascending.
    parameters : dict
        Normalised remodelling parameters
        (:func:`analysis.measurement.normalise_parameters`).
    region_of : callable
        The analysed region from the phantom's trabecular VOI (default: inset 3 voxels
        from the endocortical surface, :func:`~tests.validation.simulate.inset_region`).

    Returns
    -------
    list of (before, after, (true BFR/BV, true BRR/BV), RemodellingFigures)
        One row per interval; the truth (%/day) is the phantom's
        (:func:`acquisition.phantom.remodelling_rates`) in the same region.
    """
    base = make_phantom(scans.site, PHANTOM_SHAPE, VOXEL_UM, seed=seed)
    region = region_of(base.trabecular_voi)
    phantoms = dict(zip(days, phantom_series(base, DEMO_TREATMENTS[cohort], days), strict=True))
    rows = []
    for before, after in zip(days[:-1], days[1:], strict=True):
        truth = remodelling_rates(
            phantoms[before].trabecular_bone & region,
            phantoms[after].trabecular_bone & region,
            after - before,
        )
        figures = measure_remodelling_pair(
            scans.volume(seed, cohort, before),
            scans.volume(seed, cohort, after),
            VOXEL_UM,
            "mgHA/cm3",
            after - before,
            parameters,
            region=region,
        )
        rows.append((before, after, truth, figures))
    return rows
