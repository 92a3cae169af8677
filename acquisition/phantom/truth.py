"""Ground truth of a phantom time point, and its file beside the scan (``<scan>.truth.h5``).

For the scan of an animal on day ``d`` (previous scan on day ``d0``) the truth holds the
tissue labels and mineral densities, the bone mask, the trabecular volume of interest,
the voxels **formed** (bone on ``d``, not on ``d0``) and **resorbed** (bone on ``d0``,
not on ``d``), and the trabecular indices the time-lapse method measures (Schulte et
al., Bone 2011;48:433)::

    BV/TV  = trabecular bone voxels / VOI voxels                    (on day d)
    BFR/BV = formed voxels   / BV(d0) / (d − d0) × 100              (%/day)
    BRR/BV = resorbed voxels / BV(d0) / (d − d0) × 100              (%/day)

so that ``formed − resorbed`` equals the change of the bone voxel count exactly. It is
never written into the scan file: :func:`write_truth` writes a sibling file
(:func:`truth_path_for`), atomically.

File layout: datasets ``labels`` (uint8, :class:`~acquisition.phantom.materials.Tissue`),
``density_mgha_cm3`` (float32), ``bone_mask``, ``formed``, ``resorbed``,
``trabecular_voi`` (uint8 0/1), all ``[z, y, x]`` gzip-compressed; attributes ``site``,
``seed``, ``voxel_um``, ``day``, ``previous_day`` (NaN at baseline), ``bv_tv``,
``bfr_bv_pct_per_day``, ``brr_bv_pct_per_day`` (NaN at baseline), ``treatments`` (JSON).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import h5py
import numpy as np

from ..formats.atomic import commit_file, partial_path_for, remove_quietly
from .generate import BonePhantom
from .remodel import phantom_series
from .treatments import TreatmentSpec

__all__ = [
    "GroundTruth",
    "ground_truth",
    "read_truth",
    "remodelling_rates",
    "truth_path_for",
    "write_truth",
]

_MASKS = ("bone_mask", "formed", "resorbed", "trabecular_voi")
_SCAN_SUFFIXES = (".h5", ".hdf5", ".nxs", ".nx5")


@dataclass(frozen=True, eq=False)
class GroundTruth:
    """The phantom's truth at one time point (arrays ``[z, y, x]``; see the module doc)."""

    site: str
    seed: int
    voxel_um: float
    day: int
    previous_day: int | None
    labels: np.ndarray
    density_mgha_cm3: np.ndarray
    bone_mask: np.ndarray
    trabecular_voi: np.ndarray
    formed: np.ndarray
    resorbed: np.ndarray
    bv_tv: float
    bfr_bv_pct_per_day: float
    brr_bv_pct_per_day: float
    treatments: tuple[TreatmentSpec, ...] = ()


def remodelling_rates(before: np.ndarray, after: np.ndarray, days: int) -> tuple[float, float]:
    """BFR/BV and BRR/BV (%/day) between two bone masks ``days`` apart.

    Formed voxels (bone in ``after`` only) and resorbed voxels (in ``before`` only), each
    over the bone voxels of ``before`` and per day: the phantom's definition of the truth
    (masks of any shape, e.g. restricted to a region).
    """
    per_day = 100.0 / max(int(np.count_nonzero(before)), 1) / days
    formed = np.count_nonzero(after & ~before)
    resorbed = np.count_nonzero(before & ~after)
    return float(formed * per_day), float(resorbed * per_day)


def _trabecular(phantom: BonePhantom) -> np.ndarray:
    return phantom.trabecular_bone & phantom.trabecular_voi


def ground_truth(
    base: BonePhantom,
    treatments: Sequence[TreatmentSpec],
    day: int,
    previous_day: int | None = None,
) -> GroundTruth:
    """Truth of the animal's phantom on ``day``, with changes since ``previous_day``.

    Parameters
    ----------
    base : BonePhantom
        The animal's phantom (:func:`~acquisition.phantom.make_phantom`, seeded per animal).
    treatments : sequence of TreatmentSpec
    day : int
        Study day of the scan.
    previous_day : int, optional
        Study day of the previous scan (``None`` at baseline: nothing formed or resorbed,
        rates NaN).

    Returns
    -------
    GroundTruth
    """
    if previous_day is not None and previous_day >= day:
        raise ValueError(f"previous_day ({previous_day}) must be before day ({day})")
    days = [day] if previous_day is None else [previous_day, day]
    phantoms = phantom_series(base, treatments, days)
    now = phantoms[-1]
    bone_now = _trabecular(now)
    voi = now.trabecular_voi
    if previous_day is None:
        formed = resorbed = np.zeros_like(bone_now)
        bfr = brr = math.nan
    else:
        bone_before = _trabecular(phantoms[0])
        formed, resorbed = bone_now & ~bone_before, bone_before & ~bone_now
        bfr, brr = remodelling_rates(bone_before, bone_now, day - previous_day)
    return GroundTruth(
        site=now.site,
        seed=now.seed,
        voxel_um=now.voxel_um,
        day=int(day),
        previous_day=previous_day,
        labels=now.labels,
        density_mgha_cm3=now.density_mgha_cm3,
        bone_mask=now.bone_mask,
        trabecular_voi=voi,
        formed=formed,
        resorbed=resorbed,
        bv_tv=float(np.count_nonzero(bone_now)) / max(int(np.count_nonzero(voi)), 1),
        bfr_bv_pct_per_day=float(bfr),
        brr_bv_pct_per_day=float(brr),
        treatments=tuple(treatments),
    )


def truth_path_for(scan_path: str | Path) -> Path:
    """The sibling truth file of a scan: ``scan.h5`` → ``scan.truth.h5``."""
    scan_path = Path(scan_path)
    stem = scan_path.name
    for suffix in _SCAN_SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return scan_path.with_name(f"{stem}.truth.h5")


def write_truth(path: str | Path, truth: GroundTruth) -> Path:
    """Write ``truth`` to ``path`` (temporary name, fsync, rename); returns the path.

    Raises
    ------
    FileExistsError
        When ``path`` exists.
    """
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} already exists")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path_for(path)
    try:
        with h5py.File(partial, "w") as f:
            options = {"compression": "gzip", "compression_opts": 4, "shuffle": True}
            f.create_dataset("labels", data=truth.labels, **options)
            density = f.create_dataset("density_mgha_cm3", data=truth.density_mgha_cm3, **options)
            density.attrs["units"] = "mgHA/cm3"
            for name in _MASKS:
                f.create_dataset(name, data=getattr(truth, name).astype(np.uint8), **options)
            f.attrs["kind"] = "nanoscope phantom ground truth"
            f.attrs["site"] = truth.site
            f.attrs["seed"] = truth.seed
            f.attrs["voxel_um"] = truth.voxel_um
            f.attrs["day"] = truth.day
            f.attrs["previous_day"] = math.nan if truth.previous_day is None else truth.previous_day
            for name in ("bv_tv", "bfr_bv_pct_per_day", "brr_bv_pct_per_day"):
                f.attrs[name] = getattr(truth, name)
            f.attrs["treatments"] = json.dumps([asdict(t) for t in truth.treatments])
        commit_file(partial, path)
    finally:
        remove_quietly(partial)
    return path


def read_truth(path: str | Path) -> GroundTruth:
    """Read a file written by :func:`write_truth`."""
    with h5py.File(path, "r") as f:
        a = f.attrs
        previous = float(a["previous_day"])
        return GroundTruth(
            site=str(a["site"]),
            seed=int(a["seed"]),
            voxel_um=float(a["voxel_um"]),
            day=int(a["day"]),
            previous_day=None if math.isnan(previous) else int(previous),
            labels=f["labels"][()],
            density_mgha_cm3=f["density_mgha_cm3"][()],
            bone_mask=f["bone_mask"][()].astype(bool),
            trabecular_voi=f["trabecular_voi"][()].astype(bool),
            formed=f["formed"][()].astype(bool),
            resorbed=f["resorbed"][()].astype(bool),
            bv_tv=float(a["bv_tv"]),
            bfr_bv_pct_per_day=float(a["bfr_bv_pct_per_day"]),
            brr_bv_pct_per_day=float(a["brr_bv_pct_per_day"]),
            treatments=tuple(TreatmentSpec(**t) for t in json.loads(a["treatments"])),
        )
