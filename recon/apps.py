from django.apps import AppConfig


class ReconConfig(AppConfig):
    name = "recon"
    verbose_name = "Reconstruction"

    def ready(self) -> None:
        from . import signals  # noqa: F401 — connects the receivers
