"""End to end on the simulator: phantom → scan → reconstruction → calibration → analysis.

Issue 5's last validation: for two phantom animals over three time points the measured
BFR/BV and BRR/BV are within 10 % of the phantom's ground truth, and in the demo study
OVX animals lose trabecular BV/TV against Sham while zoledronate limits the loss.

Every scan is exposed by the simulated driver (Poisson noise, dark current, flat-field
pattern, a true axis offset and detector tilt that the nominal geometry does not know:
:mod:`tests.validation.simulate`), reconstructed by :func:`recon.pipeline.reconstruct_scan`
(centre found, FDK) and calibrated on the phantom's HA rods. The analysis uses the
stored, normalised parameters (:func:`analysis.measurement.normalise_parameters`) with
a fixed threshold of 500 mgHA/cm³ — half the mature trabecular tissue density of
1000 mgHA/cm³, the volume-preserving level for partial-volume edges.

Regions: remodelling is measured in the phantom's trabecular VOI inset 3 voxels (30 µm)
from the endocortical surface (:func:`~tests.validation.simulate.inset_region`), as labs
contour it, and compared with the truth in that same region; static BV/TV in a box
inscribed in the VOI. Both are user-defined regions. In the full VOI the cortex's
blurred edge lies above the bone threshold and adds 13 % to the day-0 bone volume,
and both rates come out 8–20 % low (``bench/validation_end_to_end.py``). The automatic
compartment separation (thickness scale from the measured cortex) does find the phantom's
medulla on these scans — 97 % of the true TV, 0.2 % outside it, BV/TV +5 %
(``tests/analysis/segmentation/test_compartments_scan.py``) — but the user-defined regions
are kept here so that the rates are not mixed with the compartment error.

What the remodelling had to get right (the phantom's truth, voxel by voxel): new bone
is laid in packets 1–4 voxels deep at 600 mgHA/cm³ and matures towards 1000, so a
thin young layer never reaches the bone threshold after the scanner's blur (σ ≈ 0.9
voxel), and any further smoothing loses it — with the former defaults (Gaussian σ 1.2,
one threshold, no density change) BFR/BV was half the truth. The classification now
uses no smoothing, a formation threshold of 250 mgHA/cm³ for new bone, a density
change of 250 against noise and maturation, and clusters of ≥ 5 voxels
(:mod:`analysis.remodelling.classify`); the follow-up is resampled by cubic B-spline.
Outcome: every rate within 9 % (table in
:func:`test_remodelling_rates_match_the_phantom_within_ten_percent`). The residual
pattern is systematic: days 0–14 a little low, 14–28 a little high, because young bone
in the day-14 baseline is partly below the bone threshold (BV₀ −7 to −9 %). The
margin to 10 % is small and depends on the reconstruction's sharpness: a sharper
cone-beam ramp (filtered rows on half-column steps) put BFR/BV at +11 to +13 % over
days 14–28 with these settings (within 8 % with clusters of ≥ 6 voxels).

Cost: ten 64 × 128 × 128 scans of 180 projections (≈ 4–8 s each on one core) and
four registrations, about three minutes in all.
"""

from __future__ import annotations

import numpy as np
import pytest

from acquisition.phantom import make_phantom, phantom_series
from analysis.measurement import measure_static, normalise_parameters
from tests.validation.simulate import PHANTOM_SHAPE, VOXEL_UM, inscribed_box
from tests.validation.study import DEMO_TREATMENTS, StudyScans, remodelling_against_truth

SITE = "tibia-right-proximal"
SERIES_SEEDS = (3, 11)
SERIES_DAYS = (0, 14, 28)
SIGN_SEEDS = (3, 11)
THRESHOLD_MGHA_CM3 = 500.0
TOLERANCE = 0.10  # relative, issue 5


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> StudyScans:
    """The module's scans (reconstructed, calibrated), made when first asked for."""
    return StudyScans(SITE, tmp_path_factory.mktemp("validation"))


@pytest.fixture(scope="module")
def series(scans):
    """Measured and true remodelling of the OVX animals between consecutive scans.

    Rows ``(seed, before, after, (true BFR/BV, true BRR/BV), measured, registration)``,
    in the VOI inset 3 voxels from the endocortical surface
    (:func:`~tests.validation.study.remodelling_against_truth`); the truth is the
    phantom's (formed and resorbed voxels over the baseline's bone voxels, as
    :func:`acquisition.phantom.ground_truth`) in that same region.
    """
    parameters = normalise_parameters(
        "remodelling", {"segmentation": {"threshold_mgha_cm3": THRESHOLD_MGHA_CM3}}
    )
    return [
        (seed, before, after, truth, figures.remodelling, figures.registration)
        for seed in SERIES_SEEDS
        for before, after, truth, figures in remodelling_against_truth(
            scans, seed, "OVX + vehicle", SERIES_DAYS, parameters
        )
    ]


def test_pipeline_finds_the_true_axis_of_every_scan(scans):
    # The driver's true offset: 2.5 unbinned pixels = 1.25 binned ×2 pixels.
    for day in SERIES_DAYS:
        scans.get(SERIES_SEEDS[0], "OVX + vehicle", day)
    offsets = np.array([axis for _, _, axis in scans.results.values()])
    assert np.abs(offsets - 1.25).max() < 0.25


def test_registration_of_an_unmoved_animal_is_the_identity(series):
    # The phantom stays on the axis between scans: any shift is registration error.
    for *_, registration in series:
        assert np.abs(registration.transform.translation_um).max() < 0.3 * VOXEL_UM
        assert np.abs(registration.transform.angles_deg).max() < 0.2


def test_ovx_series_resorbs_more_than_it_forms_as_the_phantom_does(series):
    """The balance of the OVX animal: BRR/BV > BFR/BV, measured as in the truth."""
    for _, _, _, (true_bfr, true_brr), measured, _ in series:
        assert true_brr > true_bfr
        assert measured.brr_bv_pct_per_day > measured.bfr_bv_pct_per_day


@pytest.mark.parametrize(
    ("rate", "column"),
    [
        pytest.param("bfr_bv_pct_per_day", 0, id="BFR/BV"),
        pytest.param("brr_bv_pct_per_day", 1, id="BRR/BV"),
    ],
)
def test_remodelling_rates_match_the_phantom_within_ten_percent(series, rate, column):
    """BFR/BV and BRR/BV (%/day) within ±10 % relative of the truth, each interval.

    10 % is issue 5's tolerance: about the precision of the time-lapse method in vivo
    (Schulte et al., Bone 2011;48:433). Analysis: the stored default classification
    (no smoothing, bone threshold 500 mgHA/cm³ = the segmentation threshold,
    formation threshold 250, density change 250, clusters of ≥ 5 voxels) after rigid
    registration and one cubic B-spline resampling, in the inset VOI, for two animals
    (seeds 3 and 11) over days 0–14 and 14–28. Measured / true (%/day):

    ====  =====  =======================  =======================
    seed  days   BFR/BV                   BRR/BV
    ====  =====  =======================  =======================
    3     0–14   1.765 / 1.835  (−3.8 %)  2.442 / 2.485  (−1.7 %)
    3     14–28  1.914 / 1.785  (+7.3 %)  3.260 / 3.072  (+6.1 %)
    11    0–14   1.818 / 1.987  (−8.5 %)  2.654 / 2.741  (−3.1 %)
    11    14–28  1.992 / 1.888  (+5.5 %)  2.972 / 3.031  (−1.9 %)
    ====  =====  =======================  =======================

    Sham animals, not asserted: within 10.4 % (seed 3, BFR/BV days 0–14).
    """
    for seed, before, after, truth, measured, _ in series:
        print(
            f"seed {seed} days {before}–{after}: {rate} measured "
            f"{getattr(measured, rate):.3f}, true {truth[column]:.3f}"
        )
    for _, _, _, truth, measured, _ in series:
        assert getattr(measured, rate) == pytest.approx(truth[column], rel=TOLERANCE)


@pytest.fixture(scope="module")
def bv_tv_changes(scans):
    """Measured and true BV/TV change (day 28 − day 0) per seed and cohort, in a box.

    Also ``(seed, "day 0")``: the measured and true BV/TV at baseline.
    """
    parameters = normalise_parameters(
        "morphometry",
        {
            "segmentation": {"threshold_mgha_cm3": THRESHOLD_MGHA_CM3},
            "regions": {"compartments": "none"},
        },
    )
    changes = {}
    for seed in SIGN_SEEDS:
        base = make_phantom(SITE, PHANTOM_SHAPE, VOXEL_UM, seed=seed)
        box = inscribed_box(base.trabecular_voi)
        before = measure_static(
            scans.volume(seed, "", 0)[box], VOXEL_UM, "mgHA/cm3", parameters
        ).values["bv_tv"]
        true_before = float(base.trabecular_bone[box].mean())
        for cohort, treatments in DEMO_TREATMENTS.items():
            after = measure_static(
                scans.volume(seed, cohort, 28)[box], VOXEL_UM, "mgHA/cm3", parameters
            ).values["bv_tv"]
            phantom = phantom_series(base, treatments, [28])[0]
            true_after = float(phantom.trabecular_bone[box].mean())
            changes[(seed, cohort)] = (after - before, true_after - true_before)
            print(
                f"seed {seed} {cohort}: ΔBV/TV measured {after - before:+.4f}, "
                f"true {true_after - true_before:+.4f}"
            )
        changes[(seed, "day 0")] = (before, true_before)
    return changes


def test_baseline_trabecular_bv_tv_matches_the_phantom(bv_tv_changes):
    """Day-0 BV/TV in the box within ±5 % relative of the truth.

    The threshold at half the tissue density keeps the volume of flat edges; what is
    left is curvature and the reconstruction's blur on 3–4 voxel thick trabeculae
    (measured: +2.4 % and +4.1 % for seeds 3 and 11).
    """
    for seed in SIGN_SEEDS:
        measured, true = bv_tv_changes[(seed, "day 0")]
        assert measured == pytest.approx(true, rel=0.05)


def test_ovx_loses_trabecular_bone_against_sham(bv_tv_changes):
    for seed in SIGN_SEEDS:
        sham = bv_tv_changes[(seed, "Sham")][0]
        ovx = bv_tv_changes[(seed, "OVX + vehicle")][0]
        true_sham = bv_tv_changes[(seed, "Sham")][1]
        true_ovx = bv_tv_changes[(seed, "OVX + vehicle")][1]
        assert true_ovx < true_sham  # the sign the phantom was given
        assert ovx < sham
        assert ovx < 0


def test_zoledronate_limits_the_ovx_loss(bv_tv_changes):
    for seed in SIGN_SEEDS:
        ovx = bv_tv_changes[(seed, "OVX + vehicle")][0]
        zol = bv_tv_changes[(seed, "OVX + zoledronate")][0]
        true_ovx = bv_tv_changes[(seed, "OVX + vehicle")][1]
        true_zol = bv_tv_changes[(seed, "OVX + zoledronate")][1]
        assert true_zol > true_ovx  # the sign the phantom was given
        assert zol > ovx
