"""Admin of instruments and protocols (editable) and of jobs, scans and doses (read-only).

Saving a changed protocol in the admin stores a new version, as the API does; jobs,
scans and the dose ledger are written by the acquisition machinery only.
"""

from __future__ import annotations

from django.contrib import admin

from . import models as m


@admin.register(m.Instrument)
class InstrumentAdmin(admin.ModelAdmin):
    list_display = ["name", "driver", "status", "dose_constant_mgy_per_uas", "location"]
    list_filter = ["status", "driver"]
    search_fields = ["name", "location"]


@admin.register(m.ScanProtocol)
class ScanProtocolAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "version",
        "is_current",
        "instrument",
        "site",
        "kv",
        "ua",
        "n_projections",
        "binning",
        "nominal_dose_mgy",
    ]
    list_filter = ["instrument", "site", "is_current"]
    search_fields = ["name"]
    readonly_fields = ["version", "is_current", "previous", "nominal_dose_mgy", "created_by"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
            obj.save()
            return
        stored = m.ScanProtocol.objects.get(pk=obj.pk)
        changes = {
            name: getattr(obj, name)
            for name in m.ScanProtocol.SETTINGS_FIELDS
            if getattr(obj, name) != getattr(stored, name)
        }
        successor = stored.new_version(created_by=request.user, **changes)
        # The admin redirects to the object it saved: show the new version.
        obj.pk = successor.pk
        obj.version = successor.version

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(m.AcquisitionJob)
class AcquisitionJobAdmin(ReadOnlyAdmin):
    list_display = ["pk", "session", "protocol", "state", "progress", "created_at"]
    list_filter = ["state", "instrument"]


@admin.register(m.Scan)
class ScanAdmin(ReadOnlyAdmin):
    list_display = ["pk", "session", "source", "format", "n_frames", "created_at"]
    list_filter = ["source", "format"]


@admin.register(m.DoseRecord)
class DoseRecordAdmin(ReadOnlyAdmin):
    list_display = ["animal", "site", "dose_mgy", "kind", "booked_at"]
    list_filter = ["kind", "site"]
