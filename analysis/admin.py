from django.contrib import admin

from . import models as m


@admin.register(m.AnalysisJob)
class AnalysisJobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "volume", "baseline_volume", "state", "progress", "created_at"]
    list_filter = ["kind", "state", "automatic"]
    readonly_fields = [f.name for f in m.AnalysisJob._meta.fields]


class ResultAdmin(admin.ModelAdmin):
    list_display = ["id", "job", "study_day", "code_version", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]


admin.site.register(m.MorphometryResult, ResultAdmin)
admin.site.register(m.RegistrationResult, ResultAdmin)
admin.site.register(m.RemodellingResult, ResultAdmin)
