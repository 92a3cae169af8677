from django.apps import AppConfig


class StudiesConfig(AppConfig):
    name = "studies"
    verbose_name = "Studies and lab records"

    def ready(self) -> None:
        from . import audit

        audit.connect_signals()
