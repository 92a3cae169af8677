"""The lab's records: studies, members, cohorts, animals, treatments, dosing, weights, scans.

Validation that involves several fields or records lives in each model's ``clean()``, so
the API, the pages and the admin enforce the same rules.  Every record knows the study it
belongs to through ``STUDY_PATH`` (a lookup path), which the shared visibility queryset
``visible_to(user)`` uses: access control is written once.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from .jobs import TrackedJob
from .vocabulary import (
    JOB_ENTERED_STATES,
    ROLE_RANK,
    SESSION_TRANSITIONS,
    AnatomicalSite,
    AnimalStatus,
    DoseUnit,
    Role,
    Route,
    SessionState,
    Sex,
    StudyStatus,
    TreatmentKind,
)


def validate_positive(value) -> None:
    """Doses, weights and budgets are strictly positive."""
    if value is not None and value <= 0:
        raise ValidationError("Must be greater than zero.", code="not_positive")


class StudyScopedQuerySet(models.QuerySet):
    """Records filtered to the studies a user is a member of (superusers: all)."""

    def visible_to(self, user) -> StudyScopedQuerySet:
        if not user or not user.is_authenticated:
            return self.none()
        if user.is_superuser:
            return self.all()
        path = self.model.STUDY_PATH
        prefix = f"{path}__" if path else ""
        return self.filter(**{f"{prefix}memberships__user": user}).distinct()


class Study(models.Model):
    STUDY_PATH = ""

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    ethics_licence = models.CharField(
        "ethics licence number", max_length=100, help_text="Animal-experiment licence."
    )
    principal_investigator = models.CharField(max_length=200)
    start_date = models.DateField(help_text="Study day 0.")
    status = models.CharField(
        max_length=20, choices=StudyStatus.choices, default=StudyStatus.PLANNING
    )
    dose_budget_mgy = models.FloatField(
        "radiation dose budget per animal and site (mGy)",
        default=1500.0,
        validators=[validate_positive],
        help_text="Cumulative X-ray dose an animal may receive at one anatomical site.",
    )
    weight_loss_warning_pct = models.FloatField(default=15.0, validators=[validate_positive])
    weight_loss_endpoint_pct = models.FloatField(default=20.0, validators=[validate_positive])
    created_at = models.DateTimeField(auto_now_add=True)

    objects = StudyScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-start_date", "title"]
        verbose_name_plural = "studies"

    def __str__(self) -> str:
        return self.title

    @property
    def study(self) -> Study:
        return self

    def study_day(self, when: dt.date | dt.datetime | None) -> int | None:
        """Days since the study start (day 0) for a date or an aware datetime."""
        if when is None:
            return None
        if isinstance(when, dt.datetime):
            when = timezone.localtime(when).date() if timezone.is_aware(when) else when.date()
        return (when - self.start_date).days

    def datetime_of_day(self, day: int, at: dt.time) -> dt.datetime:
        """The aware local datetime of study day ``day`` at time ``at``."""
        date = self.start_date + dt.timedelta(days=day)
        return timezone.make_aware(dt.datetime.combine(date, at))

    def role_of(self, user) -> str | None:
        """The user's role in this study (superusers act as owners), or None."""
        if user.is_superuser:
            return Role.OWNER
        membership = self.memberships.filter(user=user).only("role").first()
        return membership.role if membership else None

    def clean(self) -> None:
        warning, endpoint = self.weight_loss_warning_pct, self.weight_loss_endpoint_pct
        if warning and endpoint and warning > endpoint:
            raise ValidationError(
                {"weight_loss_warning_pct": "The warning must come before the endpoint."}
            )


def role_at_least(role: str | None, needed: str) -> bool:
    """True when ``role`` is ``needed`` or stronger."""
    return role is not None and ROLE_RANK[Role(role)] >= ROLE_RANK[Role(needed)]


class Membership(models.Model):
    STUDY_PATH = "study"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices)

    objects = StudyScopedQuerySet.as_manager()

    class Meta:
        ordering = ["study", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["study", "user"], name="one_membership_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.role} of {self.study}"


class Cohort(models.Model):
    STUDY_PATH = "study"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="cohorts")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    is_control = models.BooleanField("control group", default=False)
    planned_n = models.PositiveIntegerField("planned n", default=0)

    objects = StudyScopedQuerySet.as_manager()

    class Meta:
        ordering = ["study", "name"]
        constraints = [
            models.UniqueConstraint(fields=["study", "name"], name="cohort_name_unique_in_study")
        ]

    def __str__(self) -> str:
        return self.name


class Animal(models.Model):
    STUDY_PATH = "study"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="animals")
    cohort = models.ForeignKey(
        Cohort, on_delete=models.PROTECT, related_name="animals", null=True, blank=True
    )
    label = models.CharField(max_length=50, help_text="Unique within the study.")
    ear_tag = models.CharField(max_length=50, blank=True)
    rfid = models.CharField("RFID", max_length=50, blank=True)
    species = models.CharField(max_length=100, default="Mus musculus")
    strain = models.CharField(max_length=100, blank=True)
    sex = models.CharField(max_length=10, choices=Sex.choices)
    date_of_birth = models.DateField(null=True, blank=True)
    vendor = models.CharField(max_length=100, blank=True)
    genotype = models.CharField(max_length=100, blank=True)
    cage = models.CharField(max_length=50, blank=True)
    status = models.CharField(
        max_length=20, choices=AnimalStatus.choices, default=AnimalStatus.ALIVE
    )
    end_date = models.DateField(null=True, blank=True, help_text="Exclusion or death date.")
    end_reason = models.TextField(blank=True)
    notes = models.TextField(blank=True)

    objects = StudyScopedQuerySet.as_manager()

    class Meta:
        ordering = ["study", "label"]
        constraints = [
            models.UniqueConstraint(fields=["study", "label"], name="animal_label_unique_in_study")
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def is_alive(self) -> bool:
        return self.status == AnimalStatus.ALIVE

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.cohort_id and self.study_id and self.cohort.study_id != self.study_id:
            errors["cohort"] = "The cohort belongs to another study."
        if self.end_date and self.date_of_birth and self.end_date < self.date_of_birth:
            errors["end_date"] = "The end date is before the date of birth."
        if self.status != AnimalStatus.ALIVE and not self.end_date:
            errors["end_date"] = f"An animal that is {self.status} needs an end date."
        if self.status == AnimalStatus.ALIVE and self.end_date:
            errors["end_date"] = "A living animal has no end date."
        if self.date_of_birth and self.date_of_birth > timezone.localdate():
            errors["date_of_birth"] = "The date of birth is in the future."
        if errors:
            raise ValidationError(errors)


class Treatment(models.Model):
    """What a cohort receives, with its schedule in study days."""

    STUDY_PATH = "cohort__study"

    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="treatments")
    kind = models.CharField(max_length=20, choices=TreatmentKind.choices)
    agent = models.CharField(
        max_length=100, help_text="e.g. zoledronate, PTH(1-34), ovariectomy, sham, saline."
    )
    dose = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[validate_positive],
        help_text="Required for drugs; empty for surgery.",
    )
    dose_unit = models.CharField(max_length=10, choices=DoseUnit.choices, blank=True)
    route = models.CharField(max_length=20, choices=Route.choices)
    vehicle = models.CharField(max_length=100, blank=True)
    start_day = models.IntegerField(help_text="Study day of the first administration.")
    interval_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Days between administrations; empty for a single one."
    )
    n_administrations = models.PositiveIntegerField(null=True, blank=True)
    end_day = models.IntegerField(null=True, blank=True, help_text="Last study day (inclusive).")
    notes = models.TextField(blank=True)

    objects = StudyScopedQuerySet.as_manager()

    class Meta:
        ordering = ["cohort", "start_day", "agent"]

    def __str__(self) -> str:
        dose = f" {self.dose} {self.dose_unit}" if self.dose is not None else ""
        return f"{self.agent}{dose} ({self.cohort})"

    @property
    def study(self) -> Study:
        return self.cohort.study

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.kind in (TreatmentKind.DRUG, TreatmentKind.VEHICLE, TreatmentKind.LOADING):
            if self.dose is None:
                errors["dose"] = f"A {self.get_kind_display().lower()} treatment needs a dose."
            if not self.dose_unit:
                errors["dose_unit"] = "Give the dose unit."
        if self.dose is not None and not self.dose_unit:
            errors["dose_unit"] = "Give the dose unit."
        if self.end_day is not None and self.end_day < self.start_day:
            errors["end_day"] = "The end day is before the start day."
        if self.interval_days and self.n_administrations is None and self.end_day is None:
            errors["n_administrations"] = (
                "A repeated treatment needs a number of administrations or an end day."
            )
        if self.interval_days == 0:
            errors["interval_days"] = "The interval must be at least one day."
        if errors:
            raise ValidationError(errors)

    def schedule_days(self) -> list[int]:
        """The study days of every planned administration."""
        if not self.interval_days:
            return [self.start_day]
        days: list[int] = []
        day = self.start_day
        while True:
            if self.n_administrations is not None and len(days) >= self.n_administrations:
                break
            if self.end_day is not None and day > self.end_day:
                break
            days.append(day)
            day += self.interval_days
        return days


class Administration(models.Model):
    """One dose given (or to be given) to one animal: the dosing log."""

    STUDY_PATH = "animal__study"
    DEFAULT_TIME = dt.time(9, 0)

    treatment = models.ForeignKey(
        Treatment, on_delete=models.CASCADE, related_name="administrations"
    )
    animal = models.ForeignKey(Animal, on_delete=models.CASCADE, related_name="administrations")
    planned_at = models.DateTimeField()
    actual_at = models.DateTimeField(null=True, blank=True)
    dose_given = models.DecimalField(
        max_digits=12, decimal_places=4, null=True, blank=True, validators=[validate_positive]
    )
    body_weight_used_g = models.DecimalField(
        "body weight used (g)",
        max_digits=7,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[validate_positive],
    )
    lot_number = models.CharField(max_length=50, blank=True)
    administered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    notes = models.TextField(blank=True)

    objects = StudyScopedQuerySet.as_manager()

    class Meta:
        ordering = ["planned_at", "animal__label"]
        constraints = [
            models.UniqueConstraint(
                fields=["treatment", "animal", "planned_at"], name="one_planned_dose"
            )
        ]

    def __str__(self) -> str:
        return f"{self.treatment.agent} → {self.animal} at {self.planned_at:%Y-%m-%d}"

    @property
    def study(self) -> Study:
        return self.animal.study

    @property
    def is_done(self) -> bool:
        return self.actual_at is not None

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if not (self.animal_id and self.treatment_id):
            return
        study = self.animal.study
        if self.treatment.cohort.study_id != self.animal.study_id:
            errors["animal"] = "The animal belongs to another study than the treatment."
        elif self.animal.cohort_id != self.treatment.cohort_id:
            errors["animal"] = "The animal is not in the treatment's cohort."
        for field in ("planned_at", "actual_at"):
            value = getattr(self, field)
            if value is not None and study.study_day(value) < 0:
                errors[field] = "This is before the study start."
        if self.actual_at is not None and self.dose_given is None and self.treatment.dose:
            errors["dose_given"] = "Record the dose given with the administration time."
        if errors:
            raise ValidationError(errors)


class BodyWeightQuerySet(StudyScopedQuerySet):
    def with_baseline(self) -> BodyWeightQuerySet:
        """Annotate ``baseline_g``: the animal's first recorded weight."""
        first = BodyWeight.objects.filter(animal=models.OuterRef("animal")).order_by(
            "measured_on", "id"
        )
        return self.annotate(baseline_g=models.Subquery(first.values("grams")[:1]))


class BodyWeight(models.Model):
    STUDY_PATH = "animal__study"

    animal = models.ForeignKey(Animal, on_delete=models.CASCADE, related_name="weights")
    measured_on = models.DateField()
    grams = models.DecimalField(max_digits=7, decimal_places=2, validators=[validate_positive])
    measured_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    notes = models.TextField(blank=True)

    objects = BodyWeightQuerySet.as_manager()

    class Meta:
        ordering = ["animal", "measured_on"]

    def __str__(self) -> str:
        return f"{self.animal}: {self.grams} g on {self.measured_on}"

    @property
    def study(self) -> Study:
        return self.animal.study

    def percent_change_from(self, baseline_g: Decimal | None) -> float | None:
        if baseline_g in (None, 0):
            return None
        return round(float((self.grams - baseline_g) / baseline_g * 100), 2)

    def clean(self) -> None:
        if self.animal_id and self.measured_on:
            errors = {}
            if self.animal.study.study_day(self.measured_on) < -90:
                errors["measured_on"] = "More than 90 days before the study start."
            dob = self.animal.date_of_birth
            if dob and self.measured_on < dob:
                errors["measured_on"] = "Before the animal's date of birth."
            if self.animal.end_date and self.measured_on > self.animal.end_date:
                errors["measured_on"] = "After the animal's end date."
            if errors:
                raise ValidationError(errors)


class InvalidTransition(Exception):
    """A scan session was asked to move to a state its state machine does not allow."""


class ScanSession(models.Model):
    STUDY_PATH = "animal__study"

    animal = models.ForeignKey(Animal, on_delete=models.CASCADE, related_name="scan_sessions")
    site = models.CharField("anatomical site", max_length=40, choices=AnatomicalSite.choices)
    planned_at = models.DateTimeField()
    state = models.CharField(
        max_length=20, choices=SessionState.choices, default=SessionState.PLANNED
    )
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    state_changed_at = models.DateTimeField(default=timezone.now)
    scan_plan = models.ForeignKey(
        "ScanPlan",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sessions",
        help_text="The longitudinal plan that created this session, if any.",
    )
    plan_visit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Visit number within the plan (0 = first scan)."
    )

    objects = StudyScopedQuerySet.as_manager()

    class Meta:
        ordering = ["planned_at", "animal__label"]
        constraints = [
            models.UniqueConstraint(
                fields=["scan_plan", "animal", "plan_visit"], name="one_session_per_plan_visit"
            )
        ]

    def __str__(self) -> str:
        return f"{self.animal} {self.site} {self.planned_at:%Y-%m-%d}"

    @property
    def study(self) -> Study:
        return self.animal.study

    @property
    def study_day(self) -> int | None:
        return self.animal.study.study_day(self.planned_at)

    def clean(self) -> None:
        if not self.animal_id:
            return
        errors = {}
        if self.pk is None and not self.animal.is_alive:
            errors["animal"] = f"The animal is {self.animal.status}: it cannot be scanned."
        if self.planned_at and self.animal.study.study_day(self.planned_at) < -30:
            errors["planned_at"] = "More than 30 days before the study start."
        if errors:
            raise ValidationError(errors)

    def transition_to(self, state: str, *, save: bool = True) -> None:
        """Move along the state machine (``SESSION_TRANSITIONS``) or raise InvalidTransition."""
        if state not in SESSION_TRANSITIONS.get(self.state, frozenset()):
            raise InvalidTransition(f"A {self.state} scan session cannot become {state}.")
        self.state = state
        self.state_changed_at = timezone.now()
        if save:
            self.save(update_fields=["state", "state_changed_at"])

    def manual_targets(self) -> list[str]:
        """States a person may move the session to by hand (vocabulary order).

        The state machine's next states less :data:`~studies.vocabulary.JOB_ENTERED_STATES`,
        which only the acquisition machinery enters.
        """
        allowed = SESSION_TRANSITIONS.get(self.state, frozenset())
        return [s for s in SessionState.values if s in allowed and s not in JOB_ENTERED_STATES]

    def transition_by_hand(self, state: str) -> None:
        """A person's move (pages, API): never into a state that needs an acquisition job.

        As :meth:`transition_to`, except that ``queued`` and ``acquiring`` are refused
        (:data:`~studies.vocabulary.JOB_ENTERED_STATES`).

        Raises
        ------
        InvalidTransition
            With the state machine's message, or one naming how to queue a scan instead.
        """
        if state in JOB_ENTERED_STATES and state in SESSION_TRANSITIONS.get(self.state, ()):
            raise InvalidTransition(JOB_ENTERED_STATES[state])
        self.transition_to(state)


class StudyExport(TrackedJob):
    """A zip of every record of a study (CSV + JSON, with a manifest of sha256s)."""

    STUDY_PATH = "study"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="exports")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    relative_path = models.CharField(max_length=500, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)

    objects = StudyScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"export {self.pk} of {self.study}"


class AppendOnlyQuerySet(StudyScopedQuerySet):
    def update(self, **kwargs):
        raise PermissionError("Audit events are append-only.")

    def delete(self):
        raise PermissionError("Audit events are append-only.")


class AuditEvent(models.Model):
    """One create, update or delete of a lab record: who, when, what changed, why.

    Append-only: ``save`` refuses to change a stored event, ``delete`` refuses, the admin
    and the API offer read access only, and on PostgreSQL a trigger rejects UPDATE and
    DELETE on the table.
    """

    STUDY_PATH = "study"

    class Action(models.TextChoices):
        CREATE = "create", "Create"
        UPDATE = "update", "Update"
        DELETE = "delete", "Delete"

    # A plain reference, not a cascading key: the trail outlives a deleted study.
    study = models.ForeignKey(
        Study,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        related_name="audit_events",
    )
    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        related_name="+",
    )
    username = models.CharField(max_length=150, blank=True, help_text="Kept if the user goes.")
    action = models.CharField(max_length=10, choices=Action.choices)
    model = models.CharField(max_length=100, help_text="app_label.model")
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=300)
    changes = models.JSONField(default=dict, help_text="{field: [before, after]}")
    request_id = models.CharField(max_length=64, blank=True)
    source = models.CharField(max_length=20, blank=True, help_text="api, page, admin, task, …")
    reason = models.TextField(blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["model", "object_id"])]

    def __str__(self) -> str:
        return (
            f"{self.at:%Y-%m-%d %H:%M} {self.username} {self.action} {self.model}#{self.object_id}"
        )

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Audit events are append-only.")


class ScanPlan(models.Model):
    """A longitudinal imaging schedule for a cohort or one animal.

    One scan of ``site`` every ``interval_days`` from study day ``start_day`` for
    ``duration_weeks`` weeks (the baseline scan included, see
    :func:`studies.scheduling.visit_days`).  A scan taken within ``window_days`` of its
    planned day is on time.  The scheduled job creates the sessions ``lead_days`` ahead
    and flags those overdue or missed (``studies/scan_plans.py``).
    """

    STUDY_PATH = "study"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="scan_plans")
    cohort = models.ForeignKey(
        Cohort, on_delete=models.CASCADE, null=True, blank=True, related_name="scan_plans"
    )
    animal = models.ForeignKey(
        Animal, on_delete=models.CASCADE, null=True, blank=True, related_name="scan_plans"
    )
    site = models.CharField("anatomical site", max_length=40, choices=AnatomicalSite.choices)
    protocol_name = models.CharField(
        max_length=100, blank=True, help_text="Acquisition protocol the sessions use."
    )
    start_day = models.IntegerField(help_text="Study day of the first (baseline) scan.")
    interval_days = models.PositiveIntegerField(help_text="Days between scans.")
    duration_weeks = models.PositiveIntegerField(
        help_text="Weeks the plan runs after the first scan (last scan on or before its end)."
    )
    window_days = models.PositiveIntegerField(
        default=1, help_text="A scan within ± this many days of its planned day is on time."
    )
    time_of_day = models.TimeField(default=dt.time(10, 0))
    lead_days = models.PositiveIntegerField(
        default=14, help_text="Sessions are created this many days before their planned day."
    )
    active = models.BooleanField(default=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = StudyScopedQuerySet.as_manager()

    class Meta:
        ordering = ["study", "start_day", "site"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(cohort__isnull=False, animal__isnull=True)
                    | models.Q(cohort__isnull=True, animal__isnull=False)
                ),
                name="scan_plan_for_cohort_or_animal",
            )
        ]

    def __str__(self) -> str:
        target = self.cohort or self.animal
        return f"{self.site} every {self.interval_days} d for {self.duration_weeks} wk ({target})"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if bool(self.cohort_id) == bool(self.animal_id):
            errors["cohort"] = "Give a cohort or an animal (one of the two)."
        if self.cohort_id and self.study_id and self.cohort.study_id != self.study_id:
            errors["cohort"] = "The cohort belongs to another study."
        if self.animal_id and self.study_id and self.animal.study_id != self.study_id:
            errors["animal"] = "The animal belongs to another study."
        if self.interval_days is not None and self.interval_days < 1:
            errors["interval_days"] = "The interval must be at least one day."
        elif (
            self.interval_days
            and self.window_days is not None
            and 2 * self.window_days >= self.interval_days
        ):
            errors["window_days"] = "Windows of consecutive scans overlap: make it shorter."
        if errors:
            raise ValidationError(errors)

    def target_animals(self) -> models.QuerySet:
        """The living animals the plan scans (the cohort's, or its one animal)."""
        animals = Animal.objects.filter(status=AnimalStatus.ALIVE)
        if self.animal_id:
            return animals.filter(pk=self.animal_id)
        return animals.filter(cohort_id=self.cohort_id)


class Flag(models.Model):
    """Something a person must look at, raised by a scheduled check.

    One flag per study, kind and flagged record (``subject``, e.g. ``animal:12``): a
    check that runs again finds it and changes nothing.  Checks *resolve* flags whose
    condition has cleared (a dose given, a scan acquired) — welfare flags only after a
    person has acknowledged them — and re-open a resolved flag when its condition
    returns (``studies/flags.py``).
    """

    STUDY_PATH = "study"

    class Kind(models.TextChoices):
        WEIGHT_LOSS_WARNING = "weight-loss-warning", "Weight loss warning"
        HUMANE_ENDPOINT = "humane-endpoint", "Humane endpoint reached"
        DOSE_OVERDUE = "dose-overdue", "Dose overdue"
        SCAN_OVERDUE = "scan-overdue", "Scan overdue"
        SCAN_MISSED = "scan-missed", "Scan missed (outside its window)"
        SCAN_NOT_QUEUED = "scan-not-queued", "Planned scan not queued"
        SCAN_OVER_BUDGET = "scan-over-budget", "Planned scan over the dose budget"
        DATA_INTEGRITY = "data-integrity", "Data file missing or altered"

    class Severity(models.TextChoices):
        WARNING = "warning", "Warning"
        CRITICAL = "critical", "Critical"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="flags")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    subject = models.CharField(max_length=64, help_text="The flagged record, 'model:id'.")
    animal = models.ForeignKey(
        Animal, on_delete=models.CASCADE, null=True, blank=True, related_name="flags"
    )
    administration = models.ForeignKey(
        Administration, on_delete=models.CASCADE, null=True, blank=True, related_name="flags"
    )
    scan_session = models.ForeignKey(
        ScanSession, on_delete=models.CASCADE, null=True, blank=True, related_name="flags"
    )
    message = models.CharField(max_length=300)
    value = models.FloatField(null=True, blank=True, help_text="The measured value, if any.")
    raised_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(
        null=True, blank=True, help_text="When a check found the condition cleared."
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    acknowledgement_note = models.TextField(blank=True)

    objects = StudyScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-raised_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "kind", "subject"], name="one_flag_per_subject_and_kind"
            )
        ]
        indexes = [models.Index(fields=["study", "resolved_at", "acknowledged_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.message}"

    @property
    def is_open(self) -> bool:
        """Neither resolved by a check nor acknowledged by a person."""
        return self.resolved_at is None and self.acknowledged_at is None
