"""Django admin for superusers; the audit trail is read-only here as everywhere."""

from django.contrib import admin

from . import models as m


class MembershipInline(admin.TabularInline):
    model = m.Membership
    extra = 0


@admin.register(m.Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ["title", "principal_investigator", "start_date", "status"]
    list_filter = ["status"]
    search_fields = ["title", "ethics_licence", "principal_investigator"]
    inlines = [MembershipInline]


@admin.register(m.Cohort)
class CohortAdmin(admin.ModelAdmin):
    list_display = ["name", "study", "is_control", "planned_n"]
    list_filter = ["study"]


@admin.register(m.Animal)
class AnimalAdmin(admin.ModelAdmin):
    list_display = ["label", "study", "cohort", "sex", "strain", "status"]
    list_filter = ["study", "status", "sex"]
    search_fields = ["label", "ear_tag", "rfid"]


@admin.register(m.Treatment)
class TreatmentAdmin(admin.ModelAdmin):
    list_display = ["agent", "kind", "cohort", "dose", "dose_unit", "route", "start_day"]
    list_filter = ["kind"]


@admin.register(m.Administration)
class AdministrationAdmin(admin.ModelAdmin):
    list_display = ["treatment", "animal", "planned_at", "actual_at", "dose_given"]
    list_filter = ["treatment__agent"]


@admin.register(m.BodyWeight)
class BodyWeightAdmin(admin.ModelAdmin):
    list_display = ["animal", "measured_on", "grams"]


@admin.register(m.ScanSession)
class ScanSessionAdmin(admin.ModelAdmin):
    list_display = ["animal", "site", "planned_at", "state"]
    list_filter = ["state", "site"]


@admin.register(m.StudyExport)
class StudyExportAdmin(admin.ModelAdmin):
    list_display = ["study", "state", "created_at", "sha256"]
    readonly_fields = [f.name for f in m.StudyExport._meta.fields]


@admin.register(m.AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["at", "username", "action", "model", "object_repr", "source"]
    list_filter = ["action", "model", "source"]
    search_fields = ["object_repr", "username", "request_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(m.ScanPlan)
class ScanPlanAdmin(admin.ModelAdmin):
    list_display = ["study", "cohort", "animal", "site", "start_day", "interval_days", "active"]
    list_filter = ["active", "site"]


@admin.register(m.Flag)
class FlagAdmin(admin.ModelAdmin):
    list_display = ["raised_at", "study", "kind", "severity", "message", "resolved_at"]
    list_filter = ["kind", "severity"]
    search_fields = ["message", "subject"]
    readonly_fields = [
        f.name
        for f in m.Flag._meta.fields
        if f.name not in ("acknowledged_at", "acknowledged_by", "acknowledgement_note")
    ]
