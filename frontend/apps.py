from django.apps import AppConfig


class FrontendConfig(AppConfig):
    name = "frontend"
    verbose_name = "Pages and viewer"

    def ready(self) -> None:
        from . import signals  # noqa: F401 — connects the render-on-new-volume receiver
