"""Admin of the project-wide records: integrity-check runs, read-only."""

from django.contrib import admin

from .models import IntegrityCheck


@admin.register(IntegrityCheck)
class IntegrityCheckAdmin(admin.ModelAdmin):
    list_display = ["started_at", "checked", "missing", "altered", "raised", "resolved"]
    date_hierarchy = "started_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
