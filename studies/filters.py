"""Query-string filters of the API lists (``?study=``, ``?cohort=``, date ranges, …).

Date ranges take ``<field>_after`` and ``<field>_before`` (inclusive, ISO 8601).
"""

import django_filters as df

from . import models as m
from .vocabulary import AnatomicalSite, SessionState


class StudyFilter(df.FilterSet):
    start_date = df.DateFromToRangeFilter()

    class Meta:
        model = m.Study
        fields = ["status", "start_date"]


class MembershipFilter(df.FilterSet):
    user = df.CharFilter(field_name="user__username")

    class Meta:
        model = m.Membership
        fields = ["study", "role", "user"]


class CohortFilter(df.FilterSet):
    class Meta:
        model = m.Cohort
        fields = ["study", "is_control"]


class AnimalFilter(df.FilterSet):
    date_of_birth = df.DateFromToRangeFilter()

    class Meta:
        model = m.Animal
        fields = ["study", "cohort", "status", "sex", "strain", "date_of_birth"]


class TreatmentFilter(df.FilterSet):
    study = df.NumberFilter(field_name="cohort__study")

    class Meta:
        model = m.Treatment
        fields = ["study", "cohort", "kind"]


class AdministrationFilter(df.FilterSet):
    study = df.NumberFilter(field_name="animal__study")
    cohort = df.NumberFilter(field_name="animal__cohort")
    planned_at = df.IsoDateTimeFromToRangeFilter()
    done = df.BooleanFilter(field_name="actual_at", lookup_expr="isnull", exclude=True)

    class Meta:
        model = m.Administration
        fields = ["study", "cohort", "animal", "treatment", "planned_at", "done"]


class BodyWeightFilter(df.FilterSet):
    study = df.NumberFilter(field_name="animal__study")
    cohort = df.NumberFilter(field_name="animal__cohort")
    measured_on = df.DateFromToRangeFilter()

    class Meta:
        model = m.BodyWeight
        fields = ["study", "cohort", "animal", "measured_on"]


class ScanSessionFilter(df.FilterSet):
    study = df.NumberFilter(field_name="animal__study")
    cohort = df.NumberFilter(field_name="animal__cohort")
    state = df.MultipleChoiceFilter(choices=SessionState.choices)
    site = df.ChoiceFilter(choices=AnatomicalSite.choices)
    planned_at = df.IsoDateTimeFromToRangeFilter()

    class Meta:
        model = m.ScanSession
        fields = ["study", "cohort", "animal", "state", "site", "planned_at"]


class AuditEventFilter(df.FilterSet):
    at = df.IsoDateTimeFromToRangeFilter()

    class Meta:
        model = m.AuditEvent
        fields = ["study", "model", "object_id", "action", "source", "request_id", "at"]


class StudyExportFilter(df.FilterSet):
    class Meta:
        model = m.StudyExport
        fields = ["study", "state"]
