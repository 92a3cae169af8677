"""Query-string filters of the scheduling lists: scan plans and flags."""

import django_filters as df
from django.db.models import Q

from . import models as m


class ScanPlanFilter(df.FilterSet):
    class Meta:
        model = m.ScanPlan
        fields = ["study", "cohort", "animal", "site", "active"]


class FlagFilter(df.FilterSet):
    kind = df.MultipleChoiceFilter(choices=m.Flag.Kind.choices)
    raised_at = df.IsoDateTimeFromToRangeFilter()
    open = df.BooleanFilter(method="filter_open", help_text="Neither resolved nor acknowledged.")

    class Meta:
        model = m.Flag
        fields = ["study", "animal", "kind", "severity", "raised_at", "open"]

    def filter_open(self, queryset, name, value):
        still_open = Q(resolved_at__isnull=True, acknowledged_at__isnull=True)
        return queryset.filter(still_open) if value else queryset.exclude(still_open)
