"""Reconstruction records: the job, its slabs, the volume it wrote, per-protocol defaults."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from acquisition.models import Scan, ScanProtocol
from studies.datafiles import absolute
from studies.jobs import TrackedJob
from studies.models import ScanSession, StudyScopedQuerySet

from .pipeline import ReconstructionParameters
from .volume_store import read_metadata


def validate_parameters(value: dict) -> None:
    """Model-level check of stored parameters (the pipeline's own validation)."""
    try:
        ReconstructionParameters.from_dict(value or {})
    except (TypeError, ValueError) as exc:
        raise ValidationError(str(exc)) from exc


class VolumeKind(models.TextChoices):
    RECONSTRUCTION = "reconstruction", "Reconstruction"
    REMODELLING = "remodelling", "Registered follow-up with remodelling labels"
    SEGMENTATION = "segmentation", "Segmentation labels of a reconstruction (no grey values)"


#: Kinds whose files hold grey values (a ``segmentation`` file holds labels only, on the
#: grid of the reconstruction it was measured on).
GREY_VOLUME_KINDS = (VolumeKind.RECONSTRUCTION, VolumeKind.REMODELLING)


class VolumeQuerySet(StudyScopedQuerySet):
    def with_grey_values(self) -> VolumeQuerySet:
        """Volumes that can be viewed, rendered and listed on their own (not label-only)."""
        return self.filter(kind__in=GREY_VOLUME_KINDS)


class Volume(models.Model):
    """A volume file in the volume store (HDF5 with pyramid); never changed once written."""

    STUDY_PATH = "session__animal__study"

    session = models.ForeignKey(ScanSession, on_delete=models.PROTECT, related_name="volumes")
    kind = models.CharField(
        max_length=20, choices=VolumeKind.choices, default=VolumeKind.RECONSTRUCTION
    )
    relative_path = models.CharField(max_length=500, unique=True)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    shape = models.JSONField(help_text="[nz, ny, nx] of the full-resolution level.")
    voxel_size_um = models.FloatField()
    units = models.CharField(max_length=20, help_text="1/cm or mgHA/cm3.")
    n_levels = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    objects = VolumeQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"volume {self.pk} of {self.session}"

    @property
    def study(self):
        return self.session.animal.study

    @classmethod
    def record_file(
        cls,
        session: ScanSession,
        relative_path,
        sha256: str,
        kind: str = VolumeKind.RECONSTRUCTION,
    ) -> Volume:
        """Record a volume file already written under the data root.

        Shape, levels, voxel size and units come from the file's metadata, its size from
        the file system; ``sha256`` is the one computed while writing it.
        """
        path = absolute(relative_path)
        meta = read_metadata(path)
        return cls.objects.create(
            session=session,
            kind=kind,
            relative_path=str(relative_path),
            sha256=sha256,
            size_bytes=path.stat().st_size,
            shape=list(meta.shapes[0]),
            voxel_size_um=meta.voxel_size_um[0],
            units=meta.units,
            n_levels=len(meta.shapes),
        )


class Reconstruction(TrackedJob):
    """One reconstruction of one scan with one set of parameters.

    A re-run with new parameters is a new record; the earlier one and its volume stay.
    With ``n_slabs > 1`` the volume is reconstructed by several workers, one z-range each
    (:class:`ReconstructionSlab`), and assembled by whichever finishes last.
    """

    STUDY_PATH = "scan__session__animal__study"

    scan = models.ForeignKey(Scan, on_delete=models.PROTECT, related_name="reconstructions")
    parameters = models.JSONField(default=dict, blank=True, validators=[validate_parameters])
    n_slabs = models.PositiveSmallIntegerField(
        default=1, help_text="z-slabs reconstructed in parallel by separate workers."
    )
    automatic = models.BooleanField(default=False, help_text="Started when the scan landed.")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    axis_offset_px = models.FloatField(null=True, blank=True, help_text="Centre used.")
    detector_tilt_deg = models.FloatField(null=True, blank=True)
    centre_source = models.CharField(max_length=10, blank=True, help_text="found or given")
    backend = models.CharField(max_length=10, blank=True, help_text="Backend that ran.")
    shape = models.JSONField(null=True, blank=True)
    voxel_size_um = models.FloatField(null=True, blank=True)
    timings = models.JSONField(default=dict, blank=True, help_text="Seconds per step.")
    code_version = models.CharField(max_length=64, blank=True)
    volume = models.OneToOneField(
        Volume, on_delete=models.PROTECT, null=True, blank=True, related_name="reconstruction"
    )

    objects = StudyScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(n_slabs__gte=1) & models.Q(n_slabs__lte=64),
                name="reconstruction_slabs_1_to_64",
            )
        ]

    def __str__(self) -> str:
        return f"reconstruction {self.pk} of scan {self.scan_id}"

    @property
    def study(self):
        return self.scan.session.animal.study

    @property
    def algorithm(self) -> str:
        return self.params.algorithm

    @property
    def params(self) -> ReconstructionParameters:
        return ReconstructionParameters.from_dict(self.parameters)


class SlabState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ReconstructionSlab(models.Model):
    """One z-range of a slab-parallel reconstruction, written to its own file."""

    reconstruction = models.ForeignKey(
        Reconstruction, on_delete=models.CASCADE, related_name="slabs"
    )
    index = models.PositiveSmallIntegerField()
    z_start = models.PositiveIntegerField()
    z_stop = models.PositiveIntegerField()
    state = models.CharField(max_length=10, choices=SlabState.choices, default=SlabState.QUEUED)
    worker = models.CharField(max_length=200, blank=True)
    relative_path = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["reconstruction", "index"]
        constraints = [
            models.UniqueConstraint(fields=["reconstruction", "index"], name="slab_index_unique"),
        ]

    def __str__(self) -> str:
        return f"slab {self.index} ({self.z_start}:{self.z_stop}) of {self.reconstruction}"


class ReconstructionDefaults(models.Model):
    """The parameters a protocol's scans are reconstructed with when they land."""

    protocol = models.OneToOneField(
        ScanProtocol, on_delete=models.CASCADE, related_name="reconstruction_defaults"
    )
    parameters = models.JSONField(default=dict, blank=True, validators=[validate_parameters])
    n_slabs = models.PositiveSmallIntegerField(default=1)
    enabled = models.BooleanField(default=True, help_text="Reconstruct automatically.")

    class Meta:
        verbose_name_plural = "reconstruction defaults"

    def __str__(self) -> str:
        return f"defaults for {self.protocol}"
