"""Renders of volumes: the session thumbnail, the bone mesh, the per-animal time-lapse strip.

Files live beside the volume under the data root and are written atomically
(``studies.datafiles.atomic_output``)::

    <session folder>/renders/volume-<id>-<sha12>/thumbnail.png
    <session folder>/renders/volume-<id>-<sha12>/surface.vtp
    <session folder>/renders/volume-<id>-<sha12>/no-surface.txt   (why there is none)
    study-<s>/animal-<a>/renders/strip-<site>-<digest>.png

A volume never changes, so its renders are named by its id and checksum and made once;
a strip is named by a digest of the volumes it shows, so a new time point makes a new
strip.  The tasks run on the ``cpu`` queue (route ``frontend.tasks.*``); the Django-free
meshing and drawing is in :mod:`frontend.renders`.  When a volume lands,
:func:`frontend.signals.render_new_volume` queues :func:`render_volume` once the
transaction commits.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import h5py
from celery import shared_task

from recon.models import Volume, VolumeKind
from recon.volume_store import read_metadata
from studies.datafiles import absolute, atomic_output
from studies.models import Animal

from . import renders

log = logging.getLogger(__name__)

#: Mesh the finest pyramid level whose largest side is at most this (voxels).
MESH_MAX_SIDE = 128
#: Label volume whose classes colour the surface.
REMODELLING_LABEL = "remodelling"
THUMBNAIL_SIZE = (480, 360)
STRIP_TILE = (280, 280)


# -- paths ---------------------------------------------------------------------------


def volume_render_folder(volume: Volume) -> Path:
    """Relative folder of a volume's renders (named by its id and checksum)."""
    return (
        Path(volume.relative_path).parent / "renders" / f"volume-{volume.pk}-{volume.sha256[:12]}"
    )


def thumbnail_path(volume: Volume) -> Path:
    return volume_render_folder(volume) / "thumbnail.png"


def surface_path(volume: Volume) -> Path:
    return volume_render_folder(volume) / "surface.vtp"


def no_surface_path(volume: Volume) -> Path:
    """Where the render task says why a volume has no surface to draw (text)."""
    return volume_render_folder(volume) / "no-surface.txt"


def strip_volumes(animal: Animal, site: str) -> list[Volume]:
    """One volume per session of the animal at ``site``, oldest session first.

    A session's remodelling volume (the follow-up with its remodelling labels) is
    preferred, so the strip shows formed and resorbed bone; else its newest
    reconstruction.
    """
    volumes = (
        Volume.objects.with_grey_values()
        .filter(session__animal=animal, session__site=site)
        .select_related("session__animal__study")
        .order_by("session__planned_at", "session_id", "-created_at", "-pk")
    )
    chosen: dict[int, Volume] = {}
    for volume in volumes:
        best = chosen.get(volume.session_id)
        if best is None or (
            volume.kind == VolumeKind.REMODELLING and best.kind != VolumeKind.REMODELLING
        ):
            chosen[volume.session_id] = volume
    return list(chosen.values())


def strip_path(animal: Animal, site: str, volumes: list[Volume]) -> Path:
    """Relative path of the strip showing ``volumes`` (a digest of their ids and checksums)."""
    digest = hashlib.sha256("|".join(f"{v.pk}:{v.sha256}" for v in volumes).encode()).hexdigest()
    return (
        Path(f"study-{animal.study_id}")
        / f"animal-{animal.pk}"
        / "renders"
        / f"strip-{site}-{digest[:16]}.png"
    )


# -- making them ---------------------------------------------------------------------


def volume_surface(volume: Volume) -> renders.BoneSurface:
    """Mesh a coarse pyramid level of ``volume`` (coloured by remodelling class if labelled).

    Raises
    ------
    renders.NoSurface
        The level holds no bone surface.
    """
    path = absolute(volume.relative_path)
    meta = read_metadata(path)
    level = renders.choose_level(meta.shapes, MESH_MAX_SIDE)
    with h5py.File(path, "r") as f:
        grey = f[f"volume/{level}"][...]
        key = f"labels/{REMODELLING_LABEL}/{level}"
        labels = f[key][...] if key in f else None
    return renders.bone_surface(grey, meta.voxel_size_um[level], labels=labels)


def _write(relative: Path, data: bytes) -> None:
    with atomic_output(relative) as temporary:
        temporary.write_bytes(data)


def write_volume_renders(volume: Volume) -> renders.BoneSurface | None:
    """Write the volume's surface (VTP) and thumbnail (PNG) unless both exist.

    Returns the surface it made, or None when the files were already there.
    """
    if absolute(thumbnail_path(volume)).exists() and absolute(surface_path(volume)).exists():
        return None
    surface = volume_surface(volume)
    _write(surface_path(volume), renders.encode_mesh(surface.mesh, "vtp"))
    session = volume.session
    caption = f"{session.animal.label} · day {session.study_day}"
    _write(
        thumbnail_path(volume), renders.render_png(surface, size=THUMBNAIL_SIZE, caption=caption)
    )
    return surface


def stored_surface(volume: Volume) -> renders.BoneSurface:
    """The volume's surface, read from its VTP when written, else made (and stored) now."""
    made = write_volume_renders(volume)
    if made is not None:
        return made
    mesh = renders.read_mesh(absolute(surface_path(volume)).read_bytes(), "vtp")
    meta = read_metadata(absolute(volume.relative_path))
    level = renders.choose_level(meta.shapes, MESH_MAX_SIDE)
    voxel = meta.voxel_size_um[level]
    box = renders.box_um(meta.shapes[level], voxel)
    return renders.BoneSurface(mesh, float("nan"), "stored", voxel, box)


def write_animal_strip(animal: Animal, site: str) -> Path | None:
    """Write the time-lapse strip of ``animal`` at ``site`` (once per set of volumes).

    Returns its relative path, or None when the animal has no volume there.
    """
    volumes = strip_volumes(animal, site)
    if not volumes:
        return None
    relative = strip_path(animal, site, volumes)
    if absolute(relative).exists():
        return relative
    panels = []
    for volume in volumes:
        caption = f"day {volume.session.study_day}"
        try:
            panels.append(renders.Panel(stored_surface(volume), caption))
        except renders.NoSurface:
            panels.append(renders.Panel(None, f"{caption}: no bone found"))
    _write(relative, renders.render_strip(panels, tile=STRIP_TILE))
    return relative


# -- tasks ---------------------------------------------------------------------------


@shared_task(acks_late=True, reject_on_worker_lost=True)
def render_volume(volume_id: int) -> str:
    """Thumbnail and mesh of one volume, then its animal's strip at that site (idempotent)."""
    volume = Volume.objects.select_related("session__animal__study").filter(pk=volume_id).first()
    if volume is None:
        return "missing"
    try:
        write_volume_renders(volume)
    except renders.NoSurface as exc:
        log.warning("volume %s: no surface to render (%s)", volume_id, exc)
        _write(no_surface_path(volume), str(exc).encode())
        return "no surface"
    write_animal_strip(volume.session.animal, volume.session.site)
    return "rendered"


@shared_task(acks_late=True, reject_on_worker_lost=True)
def render_animal_strip(animal_id: int, site: str) -> str:
    """The time-lapse strip of one animal at one site (idempotent)."""
    animal = Animal.objects.filter(pk=animal_id).first()
    if animal is None:
        return "missing"
    relative = write_animal_strip(animal, site)
    return str(relative) if relative else "no volumes"


def queue_render(volume: Volume) -> bool:
    """Send :func:`render_volume`; a broker that cannot be reached is logged, not raised."""
    try:
        render_volume.delay(volume.pk)
    except Exception:  # noqa: BLE001 — the page or the recon job must not fail for a picture
        log.exception("could not queue the render of volume %s", volume.pk)
        return False
    return True
