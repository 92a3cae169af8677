"""Benchmark: the static morphometry panel beside its peers; registration + remodelling.

Prints, for a cubic rod lattice (rod diameter 8, period 24 voxels; the REFERENCES
phantom) of 192³ and 384³ voxels, the time, the peak memory above the input (bytes
per voxel, from the process's peak resident set, each measurement in a fresh
process) and the error against the analytic or exact digital value of:

* nanoscope: the full static panel (:func:`analysis.morphometry.static_morphometry`),
  and its exact digital Tb.Th / Tb.Sp alone;
* porespy ``local_thickness`` (``method="legacy"`` with explicit sizes: every
  distance-transform value, i.e. no radius quantisation) and its default
  (integer radii);
* ``localthickness`` (Dahl & Dahl's fast local thickness);
* scikit-image ``euler_number`` (Conn.D without edge correction);
* ITK BoneMorphometry (plate-model Tb.Th, Tb.Sp, Tb.N, BV/TV, BS/BV).

Then the time of a rigid registration, one resampling and the remodelling analysis
of a moved, noisy, remodelled lattice pair (``--pair-size``, 384 with ``--full``).

``--validation`` prints instead the sub-voxel and exact Tb.Th / Tb.Sp of the lattice
turned by arbitrary angles (132³, central 96³ VOI) and the automatic trabecular VOI of
the tibia phantom against its true one (coverage, fraction outside, BV/TV error) for
four animals, a thick cortex and one whose thickness varies around the shaft.

The peers are not project requirements. Install them apart, in a virtual
environment that sees the project's packages::

    python -m venv /tmp/peervenv
    .venv/bin/python -c "import site; print(site.getsitepackages()[0])" \\
        > /tmp/peervenv/lib/python3.11/site-packages/nanoscope.pth
    /tmp/peervenv/bin/pip install porespy==3.2.0 localthickness==0.1.3 \\
        itk-bonemorphometry==1.5.1
    PYTHONPATH=. /tmp/peervenv/bin/python bench/analysis_morphometry.py [--full]

Peers that are not installed are skipped. Timings depend on the machine (numba uses
every core); never a pass/fail.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PERIOD = 24
DIAMETER = 8.0
VOXEL_UM = 10.0


# -- phantoms and analytic values ---------------------------------------------------------


def rod_lattice(n: int) -> np.ndarray:
    """Rods along z, y and x through the cell corners; ``n`` a multiple of PERIOD."""
    c = (np.arange(PERIOD) - (PERIOD - 1) / 2) ** 2  # rod axes at the cell centres
    disk = (c[:, None] + c[None, :]) <= (DIAMETER / 2) ** 2
    plane = np.tile(disk, (n // PERIOD, n // PERIOD))
    return plane[None, :, :] | plane[:, :, None] | plane[:, None, :]


def analytic_bv_tv() -> float:
    """Union of three orthogonal cylinders per cell (Steinmetz solids)."""
    r, L = DIAMETER / 2, float(PERIOD)
    volume = 3 * np.pi * r**2 * L - 3 * (16 / 3) * r**3 + 8 * (2 - np.sqrt(2)) * r**3
    return volume / L**3


def brute_force_digital_thickness(cell: np.ndarray) -> float:
    """Mean of τ(p) = max{2 d(c) : |p − c| < d(c)} over a periodic cell (exhaustive)."""
    n = cell.shape[0]
    fg, bg = np.argwhere(cell), np.argwhere(~cell)

    def periodic(delta):
        return (delta + n // 2) % n - n // 2

    d2 = np.concatenate(
        [
            (periodic(fg[s : s + 128, None] - bg[None]) ** 2).sum(-1).min(1)
            for s in range(0, len(fg), 128)
        ]
    )
    tau = np.concatenate(
        [
            np.where(
                (periodic(fg[s : s + 128, None] - fg[None]) ** 2).sum(-1) < d2[None],
                2 * np.sqrt(d2)[None],
                0.0,
            ).max(1)
            for s in range(0, len(fg), 128)
        ]
    )
    return float(tau.mean())


# -- measured methods (each runs in a fresh process) ---------------------------------------


def _panel(bone):
    from analysis.morphometry import static_morphometry

    p = static_morphometry(bone, VOXEL_UM)
    return {
        "bv_tv": p.bv_tv,
        "tb_th": p.tb_th_um / VOXEL_UM,
        "tb_sp": p.tb_sp_um / VOXEL_UM,
        "conn_d_cell": p.conn_d_per_mm3 * (PERIOD * VOXEL_UM * 1e-3) ** 3,
        "smi": p.smi,
        "da": p.da,
    }


def _ours_exact(bone):
    from analysis.morphometry import local_thickness

    th = local_thickness(bone)
    tb_th = float(th[bone].mean())
    del th
    sp = local_thickness(~bone)
    return {"tb_th": tb_th, "tb_sp": float(sp[~bone].mean())}


def _porespy(bone, legacy: bool):
    import porespy
    from porespy.filters import local_thickness

    porespy.settings.tqdm["disable"] = True
    out = {}
    for name, phase in (("tb_th", bone), ("tb_sp", ~bone)):
        kwargs = {}
        if legacy:
            # Every distinct distance value as a radius, passed as an array (porespy
            # 3.2 walks ``sizes=None`` in ascending order and keeps the smallest).
            from porespy.tools import get_edt

            sizes = np.unique(get_edt()(phase)[phase])
            kwargs = {"method": "legacy", "sizes": sizes}
        radius = local_thickness(phase, **kwargs)
        out[name] = float(2 * radius[phase].mean())  # porespy labels by radius
        del radius
    return out


def _porespy_legacy(bone):
    return _porespy(bone, True)


def _porespy_default(bone):
    return _porespy(bone, False)


def _localthickness(bone):
    import localthickness

    out = {}
    for name, phase in (("tb_th", bone), ("tb_sp", ~bone)):
        t = localthickness.local_thickness(phase)
        out[name] = float(2 * t[phase].mean())  # it returns the ball radius
        del t
    return out


def _skimage_euler(bone):
    from skimage.measure import euler_number

    chi = euler_number(bone, connectivity=3)
    cells = (bone.shape[0] // PERIOD) ** 3
    return {"conn_d_cell": (1 - chi) / cells}


def _itk_bonemorphometry(bone):
    import itk

    image = itk.image_from_array(bone.astype(np.uint8))
    image.SetSpacing([VOXEL_UM] * 3)
    filt = itk.BoneMorphometryFeaturesFilter.New(image)
    filt.SetThreshold(1)
    filt.Update()
    return {
        "bv_tv": float(filt.GetBVTV()),
        "tb_th": float(filt.GetTbTh()) / VOXEL_UM,
        "tb_sp": float(filt.GetTbSp()) / VOXEL_UM,
    }


METHODS = {
    "nanoscope panel (sub-voxel)": _panel,
    "nanoscope Tb.Th/Tb.Sp exact": _ours_exact,
    "porespy legacy, all sizes": _porespy_legacy,
    "porespy default (int radii)": _porespy_default,
    "localthickness (Dahl)": _localthickness,
    "skimage euler_number": _skimage_euler,
    "ITK BoneMorphometry": _itk_bonemorphometry,
}


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def _child(name: str, path: str, queue) -> None:
    try:
        bone = np.load(path)
        # Imports, numba compilation and library start-up outside the measurement.
        METHODS[name](rod_lattice(PERIOD * 2))
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # reset the peak resident set
        before = _rss_kib("VmRSS")
        start = time.perf_counter()
        result = METHODS[name](bone)
        elapsed = time.perf_counter() - start
        peak = _rss_kib("VmHWM")
        queue.put((elapsed, (peak - before) * 1024, result, None))
    except Exception as exc:  # noqa: BLE001 - reported, the benchmark goes on
        queue.put((float("nan"), 0, {}, f"{type(exc).__name__}: {exc}"))


def measure(name: str, path: str, timeout_s: float):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(name, path, queue))
    proc.start()
    proc.join(timeout_s)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return float("nan"), 0, {}, f"stopped after {timeout_s:.0f} s"
    return queue.get() if not queue.empty() else (float("nan"), 0, {}, "no result")


def _fmt(value: float | None, reference: float | None) -> str:
    if value is None:
        return "      —       "
    if reference is None or not np.isfinite(reference):
        return f"{value:8.3f}      "
    return f"{value:8.3f} {100 * (value / reference - 1):+5.1f}%"


def morphometry(sizes: list[int], timeout_s: float) -> None:
    cell = rod_lattice(PERIOD)
    t0 = time.perf_counter()
    ref_th = brute_force_digital_thickness(cell)
    ref_sp = brute_force_digital_thickness(~cell)
    print(
        f"reference (brute force on one periodic {PERIOD}³ cell, {time.perf_counter() - t0:.1f} s):"
        f" exact digital Tb.Th {ref_th:.3f}, Tb.Sp {ref_sp:.3f} voxels;"
        f" analytic BV/TV {analytic_bv_tv():.4f} (digital {cell.mean():.4f}), Conn.D 2 per cell, DA 1"
    )
    refs = {
        "bv_tv": cell.mean(),
        "tb_th": ref_th,
        "tb_sp": ref_sp,
        "conn_d_cell": 2.0,
        "smi": None,
        "da": 1.0,
    }
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = os.path.join(tmp, f"lattice{n}.npy")
            np.save(path, rod_lattice(n))
            print(f"\n== rod lattice {n}³ ({n**3 / 1e6:.1f} M voxels), {os.cpu_count()} cores ==")
            print(
                "errors: Tb.Th/Tb.Sp against the exact digital reference (the sub-voxel"
                " panel is meant to differ: it follows the continuous rods), BV/TV against"
                " the digital count, Conn.D against 2 per cell, DA against 1"
            )
            print(
                f"{'method':30s} {'time s':>8s} {'B/voxel':>8s} {'BV/TV':>14s} {'Tb.Th vox':>14s}"
                f" {'Tb.Sp vox':>14s} {'Conn.D/cell':>14s} {'SMI':>14s} {'DA':>14s}"
            )
            for name in METHODS:
                elapsed, peak, result, error = measure(name, path, timeout_s)
                if error:
                    print(f"{name:30s} skipped: {error}")
                    continue
                cells = " ".join(_fmt(result.get(k), refs[k]) for k in refs)
                print(f"{name:30s} {elapsed:8.2f} {peak / n**3:8.1f} {cells}")


def registration_and_remodelling(n: int) -> None:
    from scipy import ndimage

    from analysis.registration import RigidTransform, register_rigid, resample_onto
    from analysis.remodelling import RemodellingParameters, analyse_remodelling

    rng = np.random.default_rng(2011)
    base_bone = rod_lattice(n)
    grown = ndimage.binary_dilation(base_bone)  # one voxel of formation everywhere …
    after = grown.copy()
    after[: n // 2] = ndimage.binary_erosion(base_bone)[: n // 2]  # … resorption below
    motion = RigidTransform(angles_deg=(1.5, -2.0, 2.5), translation_um=(25.0, -15.0, 10.0))
    base = np.where(base_bone, 1000.0, 0.0).astype(np.float32)
    follow = np.where(after, 1000.0, 0.0).astype(np.float32)
    follow = resample_onto(follow, motion.inverse(), follow.shape, VOXEL_UM, order=1)
    base += rng.normal(0, 50, base.shape).astype(np.float32)
    follow += rng.normal(0, 50, follow.shape).astype(np.float32)

    start = time.perf_counter()
    result = register_rigid(base, follow, VOXEL_UM)
    t_reg = time.perf_counter() - start
    start = time.perf_counter()
    registered = resample_onto(follow, result.transform, base.shape, VOXEL_UM, order=3)
    t_res = time.perf_counter() - start
    start = time.perf_counter()
    params = RemodellingParameters(
        threshold=500.0, formation_threshold=None, sigma_vox=0.8, density_change=225.0
    )
    remodelling = analyse_remodelling(base, registered, VOXEL_UM, 7.0, params)
    t_rem = time.perf_counter() - start
    angle_error = np.abs(np.subtract(result.transform.angles_deg, motion.angles_deg)).max()
    print(f"\n== registration + remodelling, lattice pair {n}³ ==")
    print(
        f"register_rigid {t_reg:.1f} s (angle error {angle_error:.3f}°, NCC {result.ncc:.3f}),"
        f" resample {t_res:.1f} s, analyse_remodelling {t_rem:.1f} s;"
        f" MAR {remodelling.mar_um_per_day:.2f}, MRR {remodelling.mrr_um_per_day:.2f} µm/day"
        f" (a one-voxel dilation / erosion over 7 days: {VOXEL_UM / 7:.2f} nominal on flat"
        " faces, more where the cross-shaped step meets curved rods)"
    )


# Continuous Tb.Sp of the lattice: the mean of max{2D(c) : |p - c| < D(c)}, D the exact
# distance to the rod surfaces, by exhaustive search over ball centres on a 1/8-voxel
# grid at 6 000 random marrow points (standard error 0.06).
CONTINUOUS_TB_SP = 24.35
ROTATIONS_DEG = ((17.0, 29.0, 41.0), (5.0, -12.0, 33.0), (45.0, 35.26, 0.0), (30.0, 60.0, 80.0))


def rotation_invariance(n: int = 132, margin: int = 18) -> None:
    """Tb.Th and Tb.Sp of the lattice turned by arbitrary angles, inside a central VOI."""
    from analysis.morphometry import local_thickness, thickness_stats
    from tests.analysis.morphometry.phantoms import rod_lattice as turned_rod_lattice

    region = np.zeros((n,) * 3, dtype=bool)
    region[margin:-margin, margin:-margin, margin:-margin] = True
    print(
        f"\n== rotated rod lattice {n}³, VOI {n - 2 * margin}³ (Tb.Sp continuous"
        f" {CONTINUOUS_TB_SP}) =="
    )
    print(f"{'angles (deg)':22s} {'sub Tb.Th':>10s} {'sub Tb.Sp':>10s}"
          f" {'exact Tb.Th':>12s} {'exact Tb.Sp':>12s}")  # fmt: skip
    for angles in (None, *ROTATIONS_DEG):
        bone = turned_rod_lattice(n, PERIOD, DIAMETER, angles)
        row = []
        for subvoxel in (True, False):
            for phase in (bone, ~bone):
                thickness = local_thickness(phase, subvoxel=subvoxel)
                row.append(thickness_stats(thickness, 1.0, region & phase).mean_um)
        label = "aligned" if angles is None else str(angles)
        print(f"{label:22s} {row[0]:10.3f} {row[1]:10.3f} {row[2]:12.3f} {row[3]:12.3f}")


def compartments() -> None:
    """The automatic trabecular VOI against the tibia phantom's true one."""
    from acquisition.phantom import make_phantom
    from analysis.segmentation import separate_compartments
    from tests.analysis.segmentation.phantoms import GROWN_VOX, thickened, uneven_growth

    print("\n== automatic compartments on the tibia phantom (10 µm, 64 × 128 × 128) ==")
    print(f"{'phantom':34s} {'Ct.Th vox':>9s} {'cover':>7s} {'outside':>8s}"
          f" {'BV/TV':>7s} {'true':>7s} {'error':>7s} {'time s':>7s}")  # fmt: skip
    cases = []
    for seed in (1, 3, 11, 20):
        phantom = make_phantom("tibia-right-proximal", (64, 128, 128), 10.0, seed=seed)
        cases.append((f"seed {seed}, cortex 4.6 vox", phantom, 0.0))
    phantom = cases[1][1]
    cases.append(("seed 3, cortex 10.6 vox", phantom, GROWN_VOX))
    cases.append(("seed 3, cortex 4.6-10.6 vox", phantom, uneven_growth(phantom.shape)))
    for label, phantom, grown in cases:
        bone = thickened(phantom, grown)
        truth = phantom.trabecular_voi
        start = time.perf_counter()
        parts = separate_compartments(bone)
        elapsed = time.perf_counter() - start
        voi = parts.trabecular
        true_bv_tv = np.count_nonzero(bone & truth) / np.count_nonzero(truth)
        bv_tv = np.count_nonzero(bone & voi) / max(np.count_nonzero(voi), 1)
        print(
            f"{label:34s} {parts.parameters['cortical_thickness_vox']:9.2f}"
            f" {np.count_nonzero(voi & truth) / np.count_nonzero(truth):7.3f}"
            f" {np.count_nonzero(voi & ~truth) / max(np.count_nonzero(voi), 1):8.4f}"
            f" {bv_tv:7.4f} {true_bv_tv:7.4f} {bv_tv / true_bv_tv - 1:+7.3f} {elapsed:7.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[192, 384])
    parser.add_argument("--pair-size", type=int, default=192)
    parser.add_argument("--full", action="store_true", help="registration pair at 384³")
    parser.add_argument("--timeout", type=float, default=900.0, help="per method and size (s)")
    parser.add_argument(
        "--validation",
        action="store_true",
        help="only the rotated-lattice Tb.Th/Tb.Sp and the automatic compartments",
    )
    args = parser.parse_args()
    if args.validation:
        rotation_invariance()
        compartments()
        return
    for n in args.sizes:
        if n % PERIOD:
            parser.error(f"--sizes must be multiples of {PERIOD}, got {n}")
    morphometry(args.sizes, args.timeout)
    registration_and_remodelling(384 if args.full else args.pair_size)


if __name__ == "__main__":
    main()
