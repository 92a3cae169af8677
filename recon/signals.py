"""Reconstruct every scan that lands (acquired or imported) with its protocol's defaults."""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from acquisition.models import Scan


@receiver(post_save, sender=Scan, dispatch_uid="recon-start-on-new-scan")
def reconstruct_new_scan(sender, instance: Scan, created: bool, raw: bool = False, **kwargs):
    """Once the scan's transaction commits (a rolled-back import starts nothing)."""
    if created and not raw:
        from .jobs import start_automatic_reconstruction

        transaction.on_commit(lambda: start_automatic_reconstruction(instance), robust=True)
