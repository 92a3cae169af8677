from django.apps import AppConfig


class AnalysisConfig(AppConfig):
    name = "analysis"
    verbose_name = "Morphometry and remodelling"

    def ready(self) -> None:
        from . import signals  # noqa: F401 — connects the receivers
