"""Page forms; validation is the models' own ``clean()``, as in the API."""

from django import forms

from studies.models import Animal, Cohort


class AnimalForm(forms.ModelForm):
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
            "date_of_birth": forms.DateInput(attrs={"type": "date"}),
            "end_date": forms.DateInput(attrs={"type": "date"}),
            "notes": forms.Textarea(attrs={"rows": 2}),
            "end_reason": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args, study, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.study = study
        self.fields["cohort"].queryset = Cohort.objects.filter(study=study)
