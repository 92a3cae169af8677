"""The volume viewer's page: a server-rendered shell around the WebGL2 viewer.

The page carries what may change (the animal's other time points at the same site, the
segmentation of its newest morphometry); the volume's own facts come from the immutable
data endpoints (``frontend/slices.py``).  A label volume from elsewhere is read through
its own volume's endpoints, so that every cached answer stays immutable.
"""

from __future__ import annotations

import base64

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse

from analysis.jobs import SEGMENTATION_LABEL
from analysis.models import MorphometryResult
from recon.models import Volume, VolumeKind
from recon.volume_store import level_shapes, read_metadata
from studies.datafiles import absolute

from .slices import first_level_within, label_classes, visible_volume, windowed_png


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
        .with_grey_values()
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


#: The first slice of a view is the first pyramid level whose slice fits in this many
#: pixels a side (``COARSE_MAX_SIDE`` of ``viewer/main.js``).
FIRST_SLICE_MAX_SIDE = 160

#: The views of ``viewer/main.js`` (``VIEWS``): name, slicing axis, and whether rows grow
#: upwards on screen.
VIEWS = (("axial", 0, False), ("coronal", 1, True), ("sagittal", 2, True))


def _number(value: float) -> str:
    return f"{value:.9g}"


def _inline_png(volume: Volume, axis: int, index: int, level: int, url: str) -> str:
    """The slice's PNG as a ``data:`` URL, else (unreadable file) ``url``, its endpoint's."""
    try:
        png = windowed_png(volume, axis, index, level)
    except (OSError, ValueError):  # a missing file is the integrity check's business
        return url
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def first_slices(volume: Volume, inline: bool = True) -> list[dict]:
    """The PNG slices the page shows before the viewer's script runs, one per view.

    Per view (axial z, coronal y, sagittal x): the slice through the middle voxel at the
    first level whose slice is at most :data:`FIRST_SLICE_MAX_SIDE` a side (else the
    coarsest), with the server's default window — the slice ``viewer/main.js`` first
    asks for with no view in the page's address.

    With ``inline`` the pictures travel in the page itself (``src`` a ``data:`` URL of
    the PNG, a few KiB each): they are painted with the page's first paint, with no
    request of their own to wait for behind the page's scripts.

    Returns
    -------
    list of dict
        ``view`` (name), ``url`` (the slice endpoint's), ``src`` (the image's: inline
        or ``url``), ``flip`` (rows grow upwards), ``rows`` and ``cols``
        (pixels) and ``style``: CSS custom properties placing the picture as the fitted
        WebGL view does (``viewer.css``): ``--w``, ``--h`` the volume's extent across
        and up the view, ``--iw``, ``--ih`` the picture's (a coarse level's last voxel
        may reach past the volume), all in µm.
    """
    shapes = level_shapes(volume.shape, n_levels=volume.n_levels)
    base = reverse("viewer:slice", args=[volume.pk])
    voxel = float(volume.voxel_size_um)
    slices = []
    for view, axis, flip in VIEWS:
        down, across = (d for d in range(3) if d != axis)
        planes = [(shape[down], shape[across]) for shape in shapes]
        level = first_level_within(planes, FIRST_SLICE_MAX_SIDE)
        index = (shapes[0][axis] // 2) >> level  # the middle voxel of level 0, at that level
        rows, cols = planes[level]
        extent = {
            "w": shapes[0][across] * voxel,
            "h": shapes[0][down] * voxel,
            "iw": cols * voxel * 2**level,
            "ih": rows * voxel * 2**level,
        }
        url = f"{base}?axis={'zyx'[axis]}&index={index}&level={level}&fmt=png"
        slices.append(
            {
                "view": view,
                "url": url,
                "src": _inline_png(volume, axis, index, level, url) if inline else url,
                "flip": flip,
                "rows": rows,
                "cols": cols,
                "style": "; ".join(f"--{k}: {_number(v)}" for k, v in extent.items()),
            }
        )
    return slices


def segmentation_overlay(volume: Volume) -> dict | None:
    """The label volume of the newest morphometry of ``volume`` that wrote one, or None.

    Returns
    -------
    dict or None
        ``name`` (the label volume's name), ``volume`` (its id: its slices are read
        through its own data endpoints), ``classes`` (``[{"value", "name"}, …]``),
        ``result`` (the morphometry result's id) and ``created`` (ISO time).  None when
        no morphometry wrote labels on the volume's grid (same shape and levels).
    """
    result = (
        MorphometryResult.objects.filter(volume=volume, label_volume__isnull=False)
        .select_related("label_volume")
        .order_by("-created_at", "-id")
        .first()
    )
    if result is None:
        return None
    labels = result.label_volume
    if labels.shape != volume.shape or labels.n_levels != volume.n_levels:
        return None
    path = str(absolute(labels.relative_path))
    try:
        meta = read_metadata(path)
    except OSError:  # a missing file is the integrity check's business; show the rest
        return None
    shapes = meta.labels.get(SEGMENTATION_LABEL)
    if shapes is None:
        return None
    return {
        "name": SEGMENTATION_LABEL,
        "volume": labels.pk,
        "classes": label_classes(SEGMENTATION_LABEL, path, shapes, meta.provenance),
        "result": result.pk,
        "created": result.created_at.isoformat(),
    }


@login_required
def viewer(request, volume_id: int):
    """The viewer for one volume (another study's volume answers 404).

    A segmentation volume (labels only) opens the viewer of the volume it was measured
    on, with the segmentation overlay chosen.
    """
    volume = visible_volume(request, volume_id)
    if volume.kind == VolumeKind.SEGMENTATION:
        measured = MorphometryResult.objects.filter(label_volume=volume).first()
        if measured is None:
            raise Http404("This label volume belongs to no morphometry.")
        url = reverse("viewer:page", args=[measured.volume_id])
        return redirect(f"{url}#ov={SEGMENTATION_LABEL}")
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
        # Label volumes kept in other files, shown as overlays on this one's grid.
        "overlays": [o for o in [segmentation_overlay(volume)] if o is not None],
        "animal": session.animal.label,
        "site": session.get_site_display(),
        "day": session.study_day,
    }
    context = {
        "first_slices": first_slices(volume),
        "volume": volume,
        "session": session,
        "study": session.animal.study,
        "config": config,
    }
    return render(request, "frontend/viewer.html", context)
