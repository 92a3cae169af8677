"""Analyse every reconstructed volume that lands: morphometry, and remodelling against
the animal's previous session at the same site."""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from recon.models import Volume, VolumeKind


@receiver(post_save, sender=Volume, dispatch_uid="analysis-start-on-new-volume")
def analyse_new_volume(sender, instance: Volume, created: bool, raw: bool = False, **kwargs):
    """Once the volume's transaction commits (a rolled-back landing starts nothing).

    Only reconstructions: the remodelling volumes the analyses write start nothing.
    """
    if created and not raw and instance.kind == VolumeKind.RECONSTRUCTION:
        from .jobs import start_automatic_analysis

        # robust: a failure here is logged and never fails the reconstruction that landed.
        transaction.on_commit(lambda: start_automatic_analysis(instance), robust=True)
