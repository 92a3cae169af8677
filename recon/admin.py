from django.contrib import admin

from . import models as m


class SlabInline(admin.TabularInline):
    model = m.ReconstructionSlab
    extra = 0
    can_delete = False
    readonly_fields = ["index", "z_start", "z_stop", "state", "worker", "error", "finished_at"]


@admin.register(m.Reconstruction)
class ReconstructionAdmin(admin.ModelAdmin):
    list_display = ["id", "scan", "state", "progress", "backend", "n_slabs", "created_at"]
    list_filter = ["state", "backend", "automatic"]
    readonly_fields = [f.name for f in m.Reconstruction._meta.fields]
    inlines = [SlabInline]


@admin.register(m.Volume)
class VolumeAdmin(admin.ModelAdmin):
    list_display = ["id", "session", "kind", "shape", "voxel_size_um", "units", "created_at"]
    readonly_fields = [f.name for f in m.Volume._meta.fields]


@admin.register(m.ReconstructionDefaults)
class ReconstructionDefaultsAdmin(admin.ModelAdmin):
    list_display = ["protocol", "n_slabs", "enabled"]
