"""The simulated specimen: an animal's remodelled phantom on a session's study day."""

from __future__ import annotations

import zlib

from studies.models import Animal, ScanSession

from ..phantom import GroundTruth, TreatmentSpec, ground_truth, make_phantom
from .base import SCANNED_STATES


def animal_seed(animal: Animal) -> int:
    """The seed of an animal's phantom: stable for the study and the animal's label."""
    return zlib.crc32(f"study-{animal.study_id}/{animal.label}".encode())


def treatment_specs(animal: Animal) -> list[TreatmentSpec]:
    """The animal's treatments (those of its cohort) as the phantom's plain data."""
    if animal.cohort_id is None:
        return []
    return [
        TreatmentSpec(
            kind=t.kind,
            agent=t.agent,
            start_day=t.start_day,
            interval_days=t.interval_days,
            n_administrations=t.n_administrations,
            end_day=t.end_day,
            dose=float(t.dose) if t.dose is not None else None,
            dose_unit=t.dose_unit,
        )
        for t in animal.cohort.treatments.order_by("start_day", "pk")
    ]


def previous_scan_day(session: ScanSession) -> int | None:
    """Study day of the animal's last session at the site scanned before this one."""
    earlier = (
        ScanSession.objects.filter(
            animal=session.animal_id,
            site=session.site,
            planned_at__lt=session.planned_at,
            state__in=SCANNED_STATES,
        )
        .order_by("-planned_at")
        .first()
    )
    if earlier is None:
        return None
    day = earlier.study_day
    return day if day < session.study_day else None


def specimen_truth(session: ScanSession, *, shape: tuple[int, ...], voxel_um: float) -> GroundTruth:
    """The animal's remodelled phantom on the session's study day, with its ground truth.

    The phantom is seeded from the animal (:func:`animal_seed`) and remodelled from its
    treatments up to the session's study day; formed and resorbed bone are counted since
    the previous scanned session at the same site.
    """
    animal = session.animal
    base = make_phantom(session.site, shape=shape, voxel_um=voxel_um, seed=animal_seed(animal))
    return ground_truth(
        base, treatment_specs(animal), session.study_day, previous_day=previous_scan_day(session)
    )
