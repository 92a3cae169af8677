"""The nanoscope Django project: settings, URLs, the Celery app and the health endpoint."""

from .celery import app as celery_app

__all__ = ["celery_app"]
