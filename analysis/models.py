"""Analysis records: the jobs, and the results they store (morphometry, registration,
remodelling), each with its parameters, code version and provenance.

A re-run with new parameters is a new job with new result rows; earlier results stay.
Every static and dynamic parameter is a column (ASBMR names in snake_case with the unit
in the name, Bouxsein et al. 2010), so lists filter, sort and export as CSV directly.
Where the scan came from the simulator, the phantom's ground truth is stored beside the
measured value in ``truth_*`` columns (simulator truth, never a measurement).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from analysis.measurement import normalise_parameters
from recon.models import Volume
from studies.jobs import TrackedJob
from studies.models import StudyScopedQuerySet

# -- jobs ---------------------------------------------------------------------------------


class AnalysisKind(models.TextChoices):
    MORPHOMETRY = "morphometry", "Static morphometry"
    REMODELLING = "remodelling", "Registration and remodelling"


class AnalysisJob(TrackedJob):
    """One analysis of one volume (or of a pair of volumes) with one set of parameters.

    ``morphometry``: the static panel of ``volume``. ``remodelling``: ``volume`` (the
    follow-up) registered onto ``baseline_volume`` and compared voxel by voxel.
    """

    STUDY_PATH = "volume__session__animal__study"

    kind = models.CharField(max_length=20, choices=AnalysisKind.choices)
    volume = models.ForeignKey(Volume, on_delete=models.PROTECT, related_name="analysis_jobs")
    baseline_volume = models.ForeignKey(
        Volume,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="analysis_jobs_as_baseline",
    )
    parameters = models.JSONField(default=dict, blank=True)
    automatic = models.BooleanField(default=False, help_text="Started when the volume landed.")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    code_version = models.CharField(max_length=64, blank=True)
    timings = models.JSONField(default=dict, blank=True, help_text="Seconds per step.")

    objects = StudyScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind="morphometry", baseline_volume__isnull=True)
                | models.Q(kind="remodelling", baseline_volume__isnull=False),
                name="analysis_job_baseline_only_for_remodelling",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} job {self.pk} of volume {self.volume_id}"

    @property
    def study(self):
        return self.volume.session.animal.study

    def clean(self) -> None:
        try:
            self.parameters = normalise_parameters(self.kind, self.parameters)
        except ValueError as exc:
            raise ValidationError({"parameters": str(exc)}) from exc


# -- results ------------------------------------------------------------------------------


class ResultBase(models.Model):
    """What every result row records: its job, code version, parameters and time point."""

    parameters = models.JSONField(help_text="The settings used, defaults filled in.")
    code_version = models.CharField(max_length=64)
    study_day = models.IntegerField(
        null=True, help_text="Study day of the (follow-up) session when it was analysed."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = StudyScopedQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]


def _value(**options) -> models.FloatField:
    return models.FloatField(null=True, blank=True, **options)


class MorphometryResult(ResultBase):
    """The static panel of one volume: trabecular, cortical and density figures."""

    STUDY_PATH = "volume__session__animal__study"

    job = models.OneToOneField(AnalysisJob, on_delete=models.PROTECT, related_name="morphometry")
    volume = models.ForeignKey(Volume, on_delete=models.PROTECT, related_name="morphometry")
    volume_sha256 = models.CharField(max_length=64, help_text="Provenance: the file measured.")
    voxel_size_um = models.FloatField()
    units = models.CharField(max_length=20, help_text="Grey values: 1/cm or mgHA/cm3.")
    threshold = models.FloatField(help_text="Segmentation threshold applied (volume units).")
    threshold_method = models.CharField(max_length=10, help_text="fixed or otsu")
    trabecular_voi = models.CharField(
        max_length=40, help_text="medullary compartment, or whole region (no cortex found)"
    )
    # Trabecular (ASBMR).
    tv_mm3 = _value(verbose_name="TV (mm³)")
    bv_mm3 = _value(verbose_name="BV (mm³)")
    bv_tv = _value(verbose_name="BV/TV")
    bs_mm2 = _value(verbose_name="BS (mm²)")
    bs_bv_per_mm = _value(verbose_name="BS/BV (1/mm)")
    bs_tv_per_mm = _value(verbose_name="BS/TV (1/mm)")
    tb_th_um = _value(verbose_name="Tb.Th (µm)")
    tb_th_sd_um = _value(verbose_name="Tb.Th SD (µm)")
    tb_th_max_um = _value(verbose_name="Tb.Th max (µm)")
    tb_sp_um = _value(verbose_name="Tb.Sp (µm)")
    tb_sp_sd_um = _value(verbose_name="Tb.Sp SD (µm)")
    tb_sp_max_um = _value(verbose_name="Tb.Sp max (µm)")
    tb_n_per_mm = _value(verbose_name="Tb.N (1/mm)")
    tb_n_plate_model_per_mm = _value(verbose_name="Tb.N, plate model (1/mm)")
    conn_d_per_mm3 = _value(verbose_name="Conn.D (1/mm³)")
    smi = _value(verbose_name="SMI")
    da = _value(verbose_name="DA")
    bmd_mgha_cm3 = _value(verbose_name="BMD (mgHA/cm³)")
    tmd_mgha_cm3 = _value(verbose_name="TMD (mgHA/cm³)")
    # Cortical.
    tt_ar_mm2 = _value(verbose_name="Tt.Ar (mm²)")
    ct_ar_mm2 = _value(verbose_name="Ct.Ar (mm²)")
    ma_ar_mm2 = _value(verbose_name="Ma.Ar (mm²)")
    ct_ar_tt_ar = _value(verbose_name="Ct.Ar/Tt.Ar")
    ct_th_um = _value(verbose_name="Ct.Th (µm)")
    ct_th_sd_um = _value(verbose_name="Ct.Th SD (µm)")
    ct_tmd_mgha_cm3 = _value(verbose_name="Ct.TMD (mgHA/cm³)")
    details = models.JSONField(
        default=dict, blank=True, help_text="Further figures (fabric eigenvalues, Δχ, …)."
    )
    label_volume = models.OneToOneField(
        Volume,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="morphometry_result",
        help_text="Label-only volume of what was measured where (labels/segmentation).",
    )
    # Simulator ground truth (phantom scans only).
    truth_bv_tv = _value(verbose_name="BV/TV, simulator truth")
    truth_relative_path = models.CharField(max_length=500, blank=True)

    class Meta(ResultBase.Meta):
        pass

    def __str__(self) -> str:
        return f"morphometry {self.pk} of volume {self.volume_id}"

    @property
    def study(self):
        return self.volume.session.animal.study


class RegistrationResult(ResultBase):
    """A follow-up volume rigidly registered onto its baseline."""

    STUDY_PATH = "followup_volume__session__animal__study"

    job = models.OneToOneField(AnalysisJob, on_delete=models.PROTECT, related_name="registration")
    baseline_volume = models.ForeignKey(Volume, on_delete=models.PROTECT, related_name="+")
    followup_volume = models.ForeignKey(Volume, on_delete=models.PROTECT, related_name="+")
    baseline_sha256 = models.CharField(max_length=64)
    followup_sha256 = models.CharField(max_length=64)
    transform = models.JSONField(
        help_text="Baseline → follow-up: angles_deg (x, y, z), translation_um, centre_um."
    )
    metric_value = models.FloatField(help_text="Final metric (lower is better).")
    ncc = models.FloatField(null=True, help_text="Normalised cross-correlation after registration.")
    overlap_fraction = models.FloatField()
    iterations = models.IntegerField()
    stop_condition = models.TextField(blank=True)

    class Meta(ResultBase.Meta):
        pass

    def __str__(self) -> str:
        return f"registration {self.pk}: {self.followup_volume_id} onto {self.baseline_volume_id}"

    @property
    def study(self):
        return self.followup_volume.session.animal.study


class RemodellingResult(ResultBase):
    """Formed, resorbed and quiescent bone between two time points, and the rates."""

    STUDY_PATH = "followup_volume__session__animal__study"

    job = models.OneToOneField(AnalysisJob, on_delete=models.PROTECT, related_name="remodelling")
    registration = models.OneToOneField(
        RegistrationResult, on_delete=models.PROTECT, related_name="remodelling"
    )
    baseline_volume = models.ForeignKey(Volume, on_delete=models.PROTECT, related_name="+")
    followup_volume = models.ForeignKey(Volume, on_delete=models.PROTECT, related_name="+")
    label_volume = models.OneToOneField(
        Volume,
        on_delete=models.PROTECT,
        related_name="remodelling_result",
        help_text="Follow-up resampled onto the baseline grid, with the remodelling labels.",
    )
    baseline_study_day = models.IntegerField(null=True)
    interval_days = models.FloatField()
    voxel_size_um = models.FloatField()
    threshold = models.FloatField(help_text="Bone threshold applied (volume units).")
    analysed_region = models.CharField(max_length=40)
    bv0_mm3 = models.FloatField(verbose_name="BV at baseline (mm³)")
    bv1_mm3 = models.FloatField(verbose_name="BV at follow-up (mm³)")
    fv_mm3 = models.FloatField(verbose_name="formed volume (mm³)")
    rv_mm3 = models.FloatField(verbose_name="resorbed volume (mm³)")
    bfr_bv_pct_per_day = _value(verbose_name="BFR/BV (%/day)")
    brr_bv_pct_per_day = _value(verbose_name="BRR/BV (%/day)")
    ms_bs_pct = _value(verbose_name="MS/BS (%)")
    es_bs_pct = _value(verbose_name="ES/BS (%)")
    mar_um_per_day = _value(verbose_name="MAR (µm/day)")
    mrr_um_per_day = _value(verbose_name="MRR (µm/day)")
    net_change_pct = _value(verbose_name="net change (%)")
    # Simulator ground truth (phantom scans whose previous scan is the baseline).
    truth_bfr_bv_pct_per_day = _value(verbose_name="BFR/BV, simulator truth (%/day)")
    truth_brr_bv_pct_per_day = _value(verbose_name="BRR/BV, simulator truth (%/day)")
    truth_relative_path = models.CharField(max_length=500, blank=True)

    class Meta(ResultBase.Meta):
        pass

    def __str__(self) -> str:
        return f"remodelling {self.pk}: {self.baseline_volume_id} → {self.followup_volume_id}"

    @property
    def study(self):
        return self.followup_volume.session.animal.study


_NOT_PARAMETERS = {"voxel_size_um", "threshold", "interval_days"}


def parameter_labels(model: type[models.Model]) -> dict[str, str]:
    """Bone parameters a result model stores: column name → label with unit.

    The float columns of :class:`MorphometryResult` or :class:`RemodellingResult`
    except settings and simulator truth; the cohort statistics take any of them.
    """
    return {
        f.name: str(f.verbose_name)
        for f in model._meta.concrete_fields
        if isinstance(f, models.FloatField)
        and f.name not in _NOT_PARAMETERS
        and not f.name.startswith("truth_")
    }
