"""Page forms.  Validation is the models' own ``clean()``, as in the API.

Each ModelForm leaves the parent record (study, cohort, animal, treatment) out of its
fields and sets it on the instance, so a page can never move a record into a study the
user cannot see.  :class:`StudyScopedForm` also checks the "unique within the study"
constraints that Django would otherwise skip for a field left out of the form, and shows
their message next to the field.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils import timezone

from studies.models import (
    Administration,
    Animal,
    BodyWeight,
    Cohort,
    ScanSession,
    Study,
    Treatment,
)
from studies.vocabulary import AnimalStatus, Role, SessionState


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%dT%H:%M")


def _text(rows: int = 2) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows})


class StudyScopedForm(forms.ModelForm):
    """A ModelForm whose unique-within-study constraints are checked with a field message."""

    def validate_unique(self) -> None:
        super().validate_unique()
        exclude = self._get_validation_exclusions() - {"study"}
        try:
            self.instance.validate_constraints(exclude=exclude)
        except ValidationError as exc:
            self._update_errors(self._on_fields(exc))

    def _on_fields(self, exc: ValidationError) -> dict[str, list[ValidationError]]:
        errors: dict[str, list[ValidationError]] = {}
        for key, messages in exc.error_dict.items():
            for error in messages:
                fields = [f for f in (error.params or {}).get("unique_check", ()) if f != "study"]
                if key == NON_FIELD_ERRORS and len(fields) == 1 and fields[0] in self.fields:
                    name = self.instance._meta.verbose_name
                    label = self.fields[fields[0]].label.lower()
                    error = ValidationError(
                        f"Another {name} of this study has this {label}.", code="unique"
                    )
                    key = fields[0]
                errors.setdefault(key, []).append(error)
        return errors


class StudyForm(forms.ModelForm):
    class Meta:
        model = Study
        fields = [
            "title",
            "description",
            "ethics_licence",
            "principal_investigator",
            "start_date",
            "status",
            "dose_budget_mgy",
            "weight_loss_warning_pct",
            "weight_loss_endpoint_pct",
        ]
        labels = {
            "weight_loss_warning_pct": "Weight-loss warning (% of baseline)",
            "weight_loss_endpoint_pct": "Weight-loss humane endpoint (% of baseline)",
        }
        widgets = {"start_date": DateInput(), "description": _text(3)}


class CohortForm(StudyScopedForm):
    class Meta:
        model = Cohort
        fields = ["name", "description", "is_control", "planned_n"]
        widgets = {"description": _text()}

    def __init__(self, *args, study: Study, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.study = study


class AnimalForm(StudyScopedForm):
    class Meta:
        model = Animal
        fields = [
            "label",
            "cohort",
            "ear_tag",
            "rfid",
            "species",
            "strain",
            "sex",
            "date_of_birth",
            "vendor",
            "genotype",
            "cage",
            "status",
            "end_date",
            "end_reason",
            "notes",
        ]
        widgets = {
            "date_of_birth": DateInput(),
            "end_date": DateInput(),
            "notes": _text(),
            "end_reason": _text(),
        }

    def __init__(self, *args, study: Study, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.study = study
        self.fields["cohort"].queryset = Cohort.objects.filter(study=study)


class TreatmentForm(forms.ModelForm):
    class Meta:
        model = Treatment
        fields = [
            "cohort",
            "kind",
            "agent",
            "dose",
            "dose_unit",
            "route",
            "vehicle",
            "start_day",
            "interval_days",
            "n_administrations",
            "end_day",
            "notes",
        ]
        labels = {"n_administrations": "Number of administrations"}
        widgets = {"notes": _text()}

    def __init__(self, *args, study: Study, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cohort"].queryset = Cohort.objects.filter(study=study)


class AdministrationForm(forms.ModelForm):
    """Completing a planned dose: when it was given, how much, from which lot."""

    class Meta:
        model = Administration
        fields = ["actual_at", "dose_given", "body_weight_used_g", "lot_number", "notes"]
        labels = {"actual_at": "Given at"}
        widgets = {"actual_at": DateTimeLocalInput(), "notes": _text()}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["actual_at"].required = True
        dose_unit = self.instance.treatment.get_dose_unit_display()
        if dose_unit:
            self.fields["dose_given"].label = f"Dose given ({dose_unit})"
        if not self.is_bound and self.instance.actual_at is None:
            latest = self.instance.animal.weights.order_by("-measured_on", "-id").first()
            suggested = {
                "actual_at": timezone.localtime().replace(second=0, microsecond=0),
                "dose_given": self.instance.treatment.dose,
                "body_weight_used_g": latest.grams if latest else None,
            }
            for name, value in suggested.items():
                if self.initial.get(name) is None:
                    self.initial[name] = value


class BodyWeightForm(forms.ModelForm):
    class Meta:
        model = BodyWeight
        fields = ["measured_on", "grams", "notes"]
        labels = {"grams": "Weight (g)"}
        widgets = {"measured_on": DateInput(), "notes": _text()}

    def __init__(self, *args, animal: Animal, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.animal = animal
        if not self.is_bound and self.instance.pk is None:
            self.initial["measured_on"] = timezone.localdate()


class ScanSessionForm(forms.ModelForm):
    class Meta:
        model = ScanSession
        fields = ["animal", "site", "planned_at", "operator", "notes"]
        widgets = {"planned_at": DateTimeLocalInput(), "notes": _text()}

    def __init__(self, *args, study: Study, **kwargs):
        super().__init__(*args, **kwargs)
        animals = Animal.objects.filter(study=study)
        if self.instance.pk is None:
            animals = animals.filter(status=AnimalStatus.ALIVE)
        else:
            self.fields["animal"].disabled = True  # a session never moves to another animal
        self.fields["animal"].queryset = animals
        operators = study.memberships.filter(
            role__in=[Role.OWNER, Role.INVESTIGATOR, Role.OPERATOR]
        ).values("user")
        self.fields["operator"].queryset = self.fields["operator"].queryset.filter(pk__in=operators)


class MemberForm(forms.Form):
    """Add a member; validated by the API's MembershipSerializer (one set of rules)."""

    user = forms.CharField(label="Username", max_length=150)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class ImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="A header row, then one animal per row; columns as in the API.",
    )


class TransitionForm(forms.Form):
    """Move a scan session by hand to a state its state machine allows next.

    The choices are :meth:`~studies.models.ScanSession.manual_targets`: never ``queued``
    or ``acquiring``, which a session enters only with its acquisition job.
    """

    state = forms.ChoiceField()
    reason = forms.CharField(required=False, max_length=2000, widget=_text())

    #: What the button that moves a session into each state says.
    VERBS = {
        SessionState.PLANNED: "Back to planned",
        SessionState.ABORTED: "Abort",
    }

    def __init__(self, *args, session: ScanSession, targets: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.session = session
        self.fields["state"].choices = [(t, self.verb(t)) for t in targets]

    def verb(self, target: str) -> str:
        if target == self.session.state:
            return f"Redo: {SessionState(target).label.lower()}"
        return self.VERBS.get(target, f"Mark {SessionState(target).label.lower()}")
