"""The volume viewer's page: a server-rendered shell around the WebGL2 viewer.

The page carries what may change (the animal's other time points at the same site);
the volume's own facts come from the immutable data endpoints (``frontend/slices.py``).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse

from recon.models import Volume

from .slices import visible_volume


def time_points(user, volume: Volume) -> list[dict]:
    """Visible volumes of the same animal and site, oldest session first.

    Returns
    -------
    list of dict
        ``id``, ``session`` (id), ``day`` (study day), ``date`` (ISO), ``shape``,
        ``voxel_size_um``, ``units``, ``current`` (bool), ``url`` (its viewer page).
    """
    session = volume.session
    siblings = (
        Volume.objects.visible_to(user)
        .filter(session__animal=session.animal_id, session__site=session.site)
        .select_related("session__animal__study")
        .order_by("session__planned_at", "created_at", "pk")
    )
    return [
        {
            "id": v.pk,
            "session": v.session_id,
            "day": v.session.study_day,
            "date": v.session.planned_at.date().isoformat(),
            "shape": v.shape,
            "voxel_size_um": v.voxel_size_um,
            "units": v.units,
            "current": v.pk == volume.pk,
            "url": reverse("viewer:page", args=[v.pk]),
        }
        for v in siblings
    ]


@login_required
def viewer(request, volume_id: int):
    """The viewer for one volume (another study's volume answers 404)."""
    volume = visible_volume(request, volume_id)
    session = volume.session
    config = {
        "volume": volume.pk,
        # URL patterns with an "{id}" placeholder, so the page can read other time points.
        "urls": {
            "data": reverse("viewer:metadata", args=[0]).replace("/0/", "/{id}/")[
                : -len("metadata")
            ],
            "page": reverse("viewer:page", args=[0]).replace("/0/", "/{id}/"),
        },
        "timePoints": time_points(request.user, volume),
        "animal": session.animal.label,
        "site": session.get_site_display(),
        "day": session.study_day,
    }
    context = {
        "volume": volume,
        "session": session,
        "study": session.animal.study,
        "config": config,
    }
    return render(request, "frontend/viewer.html", context)
