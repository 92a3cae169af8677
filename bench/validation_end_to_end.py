"""End-to-end validation figures: phantom → simulated scan → pipeline → analysis vs truth.

Prints, for the chain of ``tests/validation`` (simulated driver with noise and a true
axis offset, :func:`recon.pipeline.reconstruct_scan`, HA-rod calibration, analysis with
the stored parameters at 500 mgHA/cm³):

1. per scan: wall time, axis offset found, calibration;
2. the OVX animals (seeds 3 and 11) at days 0, 14, 28: measured and true BFR/BV,
   BRR/BV and net change per interval, in the VOI inset 3 voxels from the endocortical
   surface (:func:`tests.validation.simulate.inset_region`, the region the test uses)
   and in the phantom's full trabecular VOI (whose border holds the cortex's blurred
   edge), with the registration's translation;
3. the demo study's signs: trabecular BV/TV at day 0 and its change to day 28 per
   cohort, measured (:func:`analysis.measurement.measure_static` in a box inscribed in
   the VOI) and true, for seeds 3 and 11.

Run (a few minutes on one core; the figures are deterministic, the times are not)::

    PYTHONPATH=. .venv/bin/python bench/validation_end_to_end.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from acquisition.phantom import make_phantom, phantom_series
from analysis.measurement import measure_static, normalise_parameters
from tests.validation.simulate import PHANTOM_SHAPE, VOXEL_UM, inscribed_box, inset_region
from tests.validation.study import DEMO_TREATMENTS, StudyScans, remodelling_against_truth

SITE = "tibia-right-proximal"
THRESHOLD = 500.0
SERIES_SEEDS, SERIES_DAYS = (3, 11), (0, 14, 28)
SIGN_SEEDS = (3, 11)


def _timed_scans(scans: StudyScans, keys) -> None:
    print("scan (seed, cohort, day)              wall s  axis px  slope   intercept")
    for seed, cohort, day in keys:
        t0 = time.perf_counter()
        _, calibration, axis = scans.get(seed, cohort, day)
        print(
            f"{seed:3d} {cohort or 'baseline':18s} {day:3d}     {time.perf_counter() - t0:6.1f}"
            f"  {axis:6.3f}  {calibration.slope:7.1f} {calibration.intercept:8.1f}"
        )


def _series(scans: StudyScans) -> None:
    cohort = "OVX + vehicle"
    parameters = normalise_parameters(
        "remodelling", {"segmentation": {"threshold_mgha_cm3": THRESHOLD}}
    )
    print(
        "\nOVX animals: measured / true    BFR/BV %/day    BRR/BV %/day    net %         shift µm"
    )
    regions = (("inset", inset_region), ("VOI", lambda voi: voi))
    for seed in SERIES_SEEDS:
        for region_name, region_of in regions:
            rows = remodelling_against_truth(
                scans, seed, cohort, SERIES_DAYS, parameters, region_of
            )
            for a, b, true, figures in rows:
                true_net = (true[0] - true[1]) * (b - a)
                m, registration = figures.remodelling, figures.registration
                shift = np.round(registration.transform.translation_um, 2)
                print(
                    f"seed {seed:2d} {region_name:5s} days {a:2d}–{b:2d}: "
                    f"{m.bfr_bv_pct_per_day:5.3f} / {true[0]:5.3f}"
                    f"   {m.brr_bv_pct_per_day:5.3f} / {true[1]:5.3f}"
                    f"   {m.net_change_pct:6.1f} / {true_net:6.1f}  {shift}"
                )


def _bv_tv(volume: np.ndarray, box, parameters) -> float:
    """Measured trabecular BV/TV of ``volume[box]``."""
    return measure_static(volume[box], VOXEL_UM, "mgHA/cm3", parameters).values["bv_tv"]


def _signs(scans: StudyScans) -> None:
    parameters = normalise_parameters(
        "morphometry",
        {
            "segmentation": {"threshold_mgha_cm3": THRESHOLD},
            "regions": {"compartments": "none"},
        },
    )
    print("\nBV/TV in a box inside the VOI: measured / true")
    for seed in SIGN_SEEDS:
        base = make_phantom(SITE, PHANTOM_SHAPE, VOXEL_UM, seed=seed)
        box = inscribed_box(base.trabecular_voi)

        before, true_before = (
            _bv_tv(scans.volume(seed, "", 0), box, parameters),
            float(base.trabecular_bone[box].mean()),
        )
        print(f"seed {seed:2d} day 0: {before:.4f} / {true_before:.4f}")
        for cohort, treatments in DEMO_TREATMENTS.items():
            after = _bv_tv(scans.volume(seed, cohort, 28), box, parameters)
            true_after = float(
                phantom_series(base, treatments, [28])[0].trabecular_bone[box].mean()
            )
            print(
                f"seed {seed:2d} {cohort:18s} ΔBV/TV day 0–28: {after - before:+.4f} / "
                f"{true_after - true_before:+.4f}"
            )


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        scans = StudyScans(SITE, Path(scratch))
        keys = [(s, "OVX + vehicle", d) for s in SERIES_SEEDS for d in SERIES_DAYS]
        keys += [(s, c, 28) for s in SIGN_SEEDS for c in DEMO_TREATMENTS]
        keys += [(s, "", 0) for s in SIGN_SEEDS]
        _timed_scans(scans, list(dict.fromkeys(keys)))
        _series(scans)
        _signs(scans)


if __name__ == "__main__":
    main()
