"""Render every volume that lands (thumbnail, mesh), once its transaction commits."""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from recon.models import GREY_VOLUME_KINDS, Volume

from .tasks import queue_render


@receiver(post_save, sender=Volume, dispatch_uid="frontend-render-new-volume")
def render_new_volume(sender, instance: Volume, created: bool, raw: bool = False, **kwargs):
    """Queue the renders of a volume once the transaction that recorded it commits.

    Only volumes with grey values: a segmentation volume (labels only) has no surface
    of its own.
    """
    if created and not raw and instance.kind in GREY_VOLUME_KINDS:
        transaction.on_commit(lambda: queue_render(instance))
