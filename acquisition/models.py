"""Instruments, versioned scan protocols, acquisition jobs, scans and the dose ledger.

* :class:`Instrument` — one X-ray microscope: the driver that runs it (by name, see
  ``settings.NANOSCOPE_DRIVERS``), its configuration and calibrations.
* :class:`ScanProtocol` — what a scan does, versioned: a stored version never changes;
  editing makes a new version (:meth:`ScanProtocol.new_version`).
* :class:`AcquisitionJob` — one request to scan one session.  Its state machine and lease
  make it run *at most once* (``acquisition/jobs.py``).
* :class:`Scan` — a raw scan file under the data root (acquired or imported).
* :class:`DoseRecord` — the radiation dose ledger: dose delivered per animal and site.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from studies.jobs import TrackedJob
from studies.models import Animal, ScanSession, StudyScopedQuerySet, validate_positive
from studies.vocabulary import AnatomicalSite

from . import dose
from .drivers.base import AcquisitionSettings, SettingsError, check_settings
from .drivers.registry import DriverError, get_driver

# --- Instruments and protocols -------------------------------------------------------


class InstrumentStatus(models.TextChoices):
    AVAILABLE = "available", "Available"
    MAINTENANCE = "maintenance", "Maintenance"
    OFFLINE = "offline", "Offline"


class Instrument(models.Model):
    """An X-ray microscope and its calibrations (lab-wide, not owned by a study)."""

    name = models.CharField(max_length=100, unique=True)
    driver = models.CharField(
        max_length=100, help_text="Driver name in the NANOSCOPE_DRIVERS registry."
    )
    driver_config = models.JSONField(
        default=dict, blank=True, help_text="Keyword arguments of the driver (JSON object)."
    )
    status = models.CharField(
        max_length=20, choices=InstrumentStatus.choices, default=InstrumentStatus.AVAILABLE
    )
    location = models.CharField(max_length=200, blank=True)
    dose_constant_mgy_per_uas = models.FloatField(
        "dose constant (mGy per µA·s)",
        default=dose.DEFAULT_DOSE_CONSTANT_MGY_PER_UAS,
        validators=[validate_positive],
        help_text="Dose at the sample per µA·s of exposure at the reference voltage.",
    )
    dose_reference_kv = models.FloatField(
        "dose reference voltage (kV)",
        default=dose.DEFAULT_REFERENCE_KV,
        validators=[validate_positive],
    )
    ha_intercept_per_cm = models.FloatField(
        "HA calibration: μ at 0 mgHA/cm³ (1/cm)", null=True, blank=True
    )
    ha_slope_per_cm_per_mgha = models.FloatField(
        "HA calibration: slope (1/cm per mgHA/cm³)",
        null=True,
        blank=True,
        validators=[validate_positive],
        help_text="density = (μ − intercept) / slope. Empty: not calibrated.",
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not isinstance(self.driver_config, dict):
            raise ValidationError({"driver_config": "Give a JSON object."})
        if (self.ha_intercept_per_cm is None) != (self.ha_slope_per_cm_per_mgha is None):
            raise ValidationError(
                {"ha_slope_per_cm_per_mgha": "Give both the HA intercept and slope, or neither."}
            )
        try:
            self.make_driver()
        except (DriverError, ValueError, TypeError) as exc:
            raise ValidationError({"driver": f"The driver cannot start: {exc}"}) from exc

    def make_driver(self):
        """A fresh driver instance for this instrument (see ``acquisition.drivers``)."""
        return get_driver(self.driver, self.driver_config, registry=settings.NANOSCOPE_DRIVERS)


class ProtocolImmutable(Exception):
    """A stored protocol version was about to be changed in place."""


class ScanProtocol(models.Model):
    """One version of a named scan protocol on one instrument.

    A stored version never changes (its scans refer to it); :meth:`new_version` makes
    the next one and retires this one.  ``nominal_dose_mgy`` is computed from the
    instrument's calibration when the version is created (``acquisition/dose.py``).
    """

    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="protocols")
    name = models.CharField(max_length=100)
    version = models.PositiveIntegerField(default=1, editable=False)
    is_current = models.BooleanField(default=True, editable=False)
    previous = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="next_version"
    )
    site = models.CharField("anatomical site", max_length=40, choices=AnatomicalSite.choices)
    kv = models.FloatField("tube voltage (kV)", validators=[validate_positive])
    ua = models.FloatField("tube current (µA)", validators=[validate_positive])
    exposure_s = models.FloatField("exposure per frame (s)", validators=[validate_positive])
    frame_rate_hz = models.FloatField("frame rate (frames/s)", validators=[validate_positive])
    n_projections = models.PositiveIntegerField(validators=[validate_positive])
    angular_range_deg = models.FloatField(default=360.0, validators=[validate_positive])
    binning = models.PositiveSmallIntegerField(default=1, choices=[(1, "1"), (2, "2"), (4, "4")])
    voxel_size_um = models.FloatField("nominal voxel size (µm)", validators=[validate_positive])
    n_flats = models.PositiveIntegerField(default=10, validators=[validate_positive])
    n_darks = models.PositiveIntegerField(default=10, validators=[validate_positive])
    flats_before = models.BooleanField(default=True)
    flats_after = models.BooleanField(default=False)
    nominal_dose_mgy = models.FloatField(editable=False, default=0.0)
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    #: Fields copied into a new version (everything a user sets).
    SETTINGS_FIELDS = (
        "site",
        "kv",
        "ua",
        "exposure_s",
        "frame_rate_hz",
        "n_projections",
        "angular_range_deg",
        "binning",
        "voxel_size_um",
        "n_flats",
        "n_darks",
        "flats_before",
        "flats_after",
        "notes",
    )

    class Meta:
        ordering = ["instrument", "name", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["instrument", "name", "version"], name="protocol_version_unique"
            ),
            models.UniqueConstraint(
                fields=["instrument", "name"],
                condition=Q(is_current=True),
                name="one_current_protocol_version",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.instrument})"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            update_fields = kwargs.get("update_fields")
            if update_fields is None or set(update_fields) - {"is_current"}:
                raise ProtocolImmutable(
                    f"{self} is a stored protocol version; use new_version() to change it."
                )
        else:
            self.nominal_dose_mgy = self.compute_nominal_dose_mgy()
        super().save(*args, **kwargs)

    def compute_nominal_dose_mgy(self) -> float:
        """Dose of one full scan with this protocol on its instrument (mGy)."""
        return dose.nominal_dose_mgy(
            kv=self.kv,
            ua=self.ua,
            exposure_s=self.exposure_s,
            n_projections=self.n_projections,
            dose_constant_mgy_per_uas=self.instrument.dose_constant_mgy_per_uas,
            reference_kv=self.instrument.dose_reference_kv,
        )

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.exposure_s and self.frame_rate_hz and self.exposure_s > 1.0 / self.frame_rate_hz:
            errors["exposure_s"] = (
                f"The exposure must fit in one frame: at most {1.0 / self.frame_rate_hz:.4g} s "
                f"at {self.frame_rate_hz:g} frames/s."
            )
        if self.angular_range_deg and self.angular_range_deg > 360:
            errors["angular_range_deg"] = "At most 360°."
        if not (self.flats_before or self.flats_after):
            errors["flats_after"] = "Take flat fields before or after the projections (or both)."
        if errors:
            raise ValidationError(errors)
        if self.instrument_id and not errors:
            self._check_against_instrument()

    def _check_against_instrument(self) -> None:
        try:
            capabilities = self.instrument.make_driver().capabilities
        except (DriverError, ValueError, TypeError) as exc:
            raise ValidationError({"instrument": f"Its driver cannot start: {exc}"}) from exc
        try:
            check_settings(self.acquisition_settings(), capabilities)
        except SettingsError as exc:
            raise ValidationError({"__all__": f"Not possible on {self.instrument}: {exc}"}) from exc

    def acquisition_settings(self, *, seed: int = 0, paced: bool = False):
        """The driver-level settings of one scan with this protocol."""
        return AcquisitionSettings(
            kv=self.kv,
            ua=self.ua,
            exposure_s=self.exposure_s,
            frame_rate_hz=self.frame_rate_hz,
            n_projections=self.n_projections,
            angular_range_deg=self.angular_range_deg,
            binning=self.binning,
            n_flats=self.n_flats,
            n_darks=self.n_darks,
            flats_before=self.flats_before,
            flats_after=self.flats_after,
            anatomical_site=self.site,
            seed=seed,
            paced=paced,
        )

    def new_version(self, *, created_by=None, **changes) -> ScanProtocol:
        """Store the next version with ``changes`` applied and retire this one (atomically).

        Raises ``ValidationError`` like :meth:`clean`, and then nothing is stored.
        """
        unknown = set(changes) - set(self.SETTINGS_FIELDS)
        if unknown:
            raise ValueError(f"not protocol settings: {', '.join(sorted(unknown))}")
        values = {name: getattr(self, name) for name in self.SETTINGS_FIELDS}
        values.update(changes)
        successor = ScanProtocol(
            instrument=self.instrument,
            name=self.name,
            version=self.version + 1,
            previous=self,
            created_by=created_by,
            **values,
        )
        with transaction.atomic():
            ScanProtocol.objects.select_for_update().filter(pk=self.pk).first()
            self.is_current = False
            self.save(update_fields=["is_current"])
            successor.full_clean(exclude=["previous", "created_by"])
            successor.save()
        return successor


# --- Acquisition jobs ----------------------------------------------------------------


class AcquisitionState(models.TextChoices):
    """States of an acquisition job (``jobs.py`` moves it; no state is ever re-entered
    after ``running``, which is what makes a job run at most once)."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Aborted"
    INTERRUPTED = "interrupted", "Interrupted"


ACTIVE_STATES = (AcquisitionState.RUNNING, AcquisitionState.PAUSED)
FINISHED_STATES = (
    AcquisitionState.DONE,
    AcquisitionState.FAILED,
    AcquisitionState.CANCELLED,
    AcquisitionState.INTERRUPTED,
)


class AcquisitionJob(TrackedJob):
    """One request to scan one session with one protocol version on one instrument."""

    STUDY_PATH = "session__animal__study"

    state = models.CharField(
        max_length=20, choices=AcquisitionState.choices, default=AcquisitionState.QUEUED
    )
    session = models.ForeignKey(ScanSession, on_delete=models.PROTECT, related_name="acquisitions")
    protocol = models.ForeignKey(ScanProtocol, on_delete=models.PROTECT, related_name="jobs")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="jobs")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    paced = models.BooleanField(
        default=True, help_text="Deliver frames in real time (simulator); else as fast as it can."
    )
    seed = models.BigIntegerField(default=0, help_text="Noise seed of the simulator.")
    nominal_dose_mgy = models.FloatField(help_text="Dose of the full scan when requested.")
    dose_override_reason = models.TextField(blank=True)
    dose_override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requeue_of = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="requeued_as"
    )
    requeue_reason = models.TextField(blank=True)
    pause_requested = models.BooleanField(default=False)
    lease_owner = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    frames_total = models.PositiveIntegerField(default=0)
    frames_done = models.PositiveIntegerField(default=0)
    projections_done = models.PositiveIntegerField(default=0)
    frame_rate_achieved_hz = models.FloatField(null=True, blank=True)

    objects = StudyScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["instrument"],
                condition=Q(state__in=["running", "paused"]),
                name="one_active_acquisition_per_instrument",
            )
        ]
        indexes = [models.Index(fields=["state", "lease_expires_at"], name="acq_lease_sweep")]

    def __str__(self) -> str:
        return f"acquisition {self.pk} of {self.session}"

    @property
    def study(self):
        return self.session.animal.study

    @property
    def is_finished(self) -> bool:
        return self.state in FINISHED_STATES


# --- Scans and the dose ledger -------------------------------------------------------


class ScanSource(models.TextChoices):
    ACQUIRED = "acquired", "Acquired here"
    IMPORTED = "imported", "Imported"


class ScanFormat(models.TextChoices):
    NXTOMO = "nxtomo", "NXtomo (HDF5)"
    DXCHANGE = "dxchange", "DXchange (HDF5)"
    TIFF = "tiff", "TIFF stack + JSON geometry"


class Scan(models.Model):
    """A raw scan file under the data root; its sha256 was taken when it was written."""

    STUDY_PATH = "session__animal__study"

    session = models.ForeignKey(ScanSession, on_delete=models.PROTECT, related_name="scans")
    job = models.OneToOneField(
        AcquisitionJob, on_delete=models.PROTECT, null=True, blank=True, related_name="scan"
    )
    source = models.CharField(max_length=20, choices=ScanSource.choices)
    format = models.CharField(max_length=20, choices=ScanFormat.choices)
    relative_path = models.CharField(max_length=500, unique=True)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    n_frames = models.PositiveIntegerField()
    n_projections = models.PositiveIntegerField()
    frame_shape = models.JSONField(help_text="[rows, cols] of one frame.")
    geometry = models.JSONField(default=dict, blank=True, help_text="Nominal geometry (µm).")
    truth_relative_path = models.CharField(
        max_length=500, blank=True, help_text="Simulator ground truth (separate from the data)."
    )
    truth_sha256 = models.CharField(max_length=64, blank=True)
    original_name = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = StudyScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"scan {self.pk} of {self.session}"

    @property
    def study(self):
        return self.session.animal.study


def session_folder(session: ScanSession) -> Path:
    """Where a session's files live: ``study-<id>/animal-<id>/session-<id>`` (relative)."""
    return (
        Path(f"study-{session.animal.study_id}")
        / f"animal-{session.animal_id}"
        / f"session-{session.pk}"
    )


def geometry_record(geometry) -> dict[str, float]:
    """A :class:`~acquisition.drivers.base.ScanGeometry` as the JSON stored on a Scan."""
    return {
        "sod_um": geometry.sod_um,
        "sdd_um": geometry.sdd_um,
        "pixel_um": geometry.pixel_um,
        "n_rows": geometry.n_rows,
        "n_cols": geometry.n_cols,
        "axis_pixel_position": geometry.axis_pixel_position,
    }


class DoseKind(models.TextChoices):
    FULL = "full", "Complete scan"
    PARTIAL = "partial", "Partial scan (aborted, failed or interrupted)"
    EXTERNAL = "external", "External scan (imported)"


class DoseQuerySet(StudyScopedQuerySet):
    def at_site(self, animal: Animal, site: str) -> DoseQuerySet:
        return self.filter(animal=animal, site=site)

    def total_mgy(self) -> float:
        return float(self.aggregate(total=Sum("dose_mgy"))["total"] or 0.0)


class DoseRecord(models.Model):
    """One entry of the radiation dose ledger: dose an animal received at one site."""

    STUDY_PATH = "animal__study"

    animal = models.ForeignKey(Animal, on_delete=models.CASCADE, related_name="dose_records")
    site = models.CharField("anatomical site", max_length=40, choices=AnatomicalSite.choices)
    dose_mgy = models.FloatField(help_text="Delivered dose (mGy).")
    kind = models.CharField(max_length=20, choices=DoseKind.choices)
    job = models.OneToOneField(
        AcquisitionJob,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="dose_record",
        help_text="At most one booking per acquisition.",
    )
    scan = models.ForeignKey(
        Scan, on_delete=models.SET_NULL, null=True, blank=True, related_name="dose_records"
    )
    projections_delivered = models.PositiveIntegerField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)
    booked_at = models.DateTimeField(default=timezone.now)

    objects = DoseQuerySet.as_manager()

    class Meta:
        ordering = ["booked_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(dose_mgy__gte=0), name="dose_not_negative")
        ]

    def __str__(self) -> str:
        return f"{self.animal} {self.site}: {self.dose_mgy:.1f} mGy"

    @property
    def study(self):
        return self.animal.study


def committed_dose_mgy(animal: Animal, site: str, *, exclude_job: int | None = None) -> float:
    """Dose booked at ``site`` for ``animal`` plus that of its queued or running scans (mGy)."""
    booked = DoseRecord.objects.at_site(animal, site).total_mgy()
    pending = AcquisitionJob.objects.filter(
        session__animal=animal,
        session__site=site,
        state__in=[AcquisitionState.QUEUED, *ACTIVE_STATES],
    )
    if exclude_job is not None:
        pending = pending.exclude(pk=exclude_job)
    pending_mgy = pending.aggregate(total=Sum("nominal_dose_mgy"))["total"] or 0.0
    return booked + float(pending_mgy)


def budget_check(
    animal: Animal, site: str, planned_mgy: float, *, exclude_job: int | None = None
) -> dose.BudgetCheck:
    """Check a planned scan of ``animal`` at ``site`` against its study's budget."""
    return dose.check_budget(
        committed_mgy=committed_dose_mgy(animal, site, exclude_job=exclude_job),
        planned_mgy=planned_mgy,
        budget_mgy=animal.study.dose_budget_mgy,
    )


def lock_animal(animal_id: int) -> None:
    """Lock the animal's row until the transaction ends: its budget checks run one at a time.

    Taken before a :func:`budget_check` whose booking follows in the same transaction (a
    scan request, an import), so two of them cannot both pass on the same remaining budget.
    """
    Animal.objects.select_for_update().filter(pk=animal_id).first()


AUDITED_MODELS = ("Instrument", "ScanProtocol", "AcquisitionJob", "Scan", "DoseRecord")
"""Records whose every save and delete goes to the studies audit trail (connected in
``AcquisitionConfig.ready``). Progress, heartbeat and lease writes go through
``QuerySet.update`` and are not audited (they are not changes a person made); the
actions people take — requests, overrides, pause, resume, abort, re-queue — are saves
or explicit events."""
