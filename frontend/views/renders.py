"""Renders and meshes of volumes: the thumbnail, the STL/PLY/VTP surface, the animal's strip.

The files are made by the ``cpu`` worker when a volume lands (``frontend/tasks.py``); a
mesh asked for before that is made on the spot (a coarse level: well under a second).
Another study's volume or animal answers 404, as everywhere.
"""

from __future__ import annotations

from pathlib import Path

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from recon.models import Volume
from studies.datafiles import absolute
from studies.models import Animal, Study
from studies.vocabulary import AnatomicalSite, Role

from .. import renders
from ..access import study_for
from ..tasks import (
    queue_render,
    render_animal_strip,
    stored_surface,
    strip_path,
    strip_volumes,
    thumbnail_path,
)

#: Volume files never change, and their renders are named by the volume's checksum.
IMMUTABLE = "private, max-age=31536000, immutable"


def render_exists(relative: Path) -> bool:
    """True when the render file ``relative`` (under the data root) has been written."""
    return absolute(relative).exists()


def _volume(study: Study, volume_id: int) -> Volume:
    return get_object_or_404(
        Volume.objects.select_related("session__animal__study"),
        pk=volume_id,
        session__animal__study=study,
    )


def _png(relative: Path, what: str) -> FileResponse:
    path = absolute(relative)
    if not path.exists():
        raise Http404(f"The {what} has not been rendered yet.")
    response = FileResponse(path.open("rb"), content_type="image/png")  # noqa: SIM115 — FileResponse closes it
    response["Cache-Control"] = IMMUTABLE
    return response


@login_required
def volume_thumbnail(request: HttpRequest, study_id: int, volume_id: int) -> HttpResponse:
    """The volume's bone-surface picture (PNG); 404 until the worker has drawn it."""
    study = study_for(request, study_id)
    return _png(thumbnail_path(_volume(study, volume_id)), "thumbnail")


def mesh_filename(volume: Volume, fmt: str) -> str:
    """``<animal>-<site>-day<N>-volume<id>.<fmt>``, safe for a file system."""
    session = volume.session
    stem = f"{session.animal.label}-{session.site}-day{session.study_day}-volume{volume.pk}"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)
    return f"{safe}.{fmt}"


@login_required
def volume_mesh(request: HttpRequest, study_id: int, volume_id: int, fmt: str) -> HttpResponse:
    """The bone surface as STL, PLY or VTP (made now if the worker has not yet)."""
    study = study_for(request, study_id)
    volume = _volume(study, volume_id)
    if fmt not in renders.MESH_FORMATS:
        raise Http404(f"No mesh format {fmt!r}.")
    try:
        surface = stored_surface(volume)
    except renders.NoSurface as exc:
        return HttpResponse(f"No bone surface in this volume: {exc}", status=409)
    response = HttpResponse(
        renders.encode_mesh(surface.mesh, fmt), content_type=renders.MESH_FORMATS[fmt]
    )
    response["Content-Disposition"] = f'attachment; filename="{mesh_filename(volume, fmt)}"'
    response["Cache-Control"] = IMMUTABLE
    return response


def _site(site: str) -> str:
    if site not in AnatomicalSite.values:
        raise Http404(f"No anatomical site {site!r}.")
    return site


@login_required
def animal_strip(request: HttpRequest, study_id: int, animal_id: int, site: str) -> HttpResponse:
    """The animal's time-lapse strip at ``site`` for its current volumes (PNG)."""
    study = study_for(request, study_id)
    animal = get_object_or_404(Animal, pk=animal_id, study=study)
    volumes = strip_volumes(animal, _site(site))
    if not volumes:
        raise Http404("The animal has no volume at this site.")
    return _png(strip_path(animal, site, volumes), "time-lapse strip")


def _back(request: HttpRequest, fallback: str) -> HttpResponse:
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, {request.get_host()}):
        return redirect(target)
    return redirect(fallback)


@login_required
@require_POST
def volume_render(request: HttpRequest, study_id: int, volume_id: int) -> HttpResponse:
    """Queue the volume's renders again (operators), e.g. after a worker was down."""
    study = study_for(request, study_id, Role.OPERATOR)
    volume = _volume(study, volume_id)
    if queue_render(volume):
        messages.success(request, f"The renders of volume {volume.pk} are queued.")
    else:
        messages.error(request, "The work queue could not be reached; try again later.")
    return _back(request, reverse("frontend:session-detail", args=[study.pk, volume.session_id]))


@login_required
@require_POST
def animal_strip_render(
    request: HttpRequest, study_id: int, animal_id: int, site: str
) -> HttpResponse:
    """Queue the animal's strip at ``site`` (operators)."""
    study = study_for(request, study_id, Role.OPERATOR)
    animal = get_object_or_404(Animal, pk=animal_id, study=study)
    site = _site(site)
    try:
        render_animal_strip.delay(animal.pk, site)
    except Exception:  # noqa: BLE001 — whatever the broker raised, the page says so
        messages.error(request, "The work queue could not be reached; try again later.")
    else:
        messages.success(request, "The time-lapse strip is queued.")
    return _back(request, reverse("frontend:animal-detail", args=[study.pk, animal.pk]))
