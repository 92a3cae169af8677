from django.apps import AppConfig


class AcquisitionConfig(AppConfig):
    name = "acquisition"
    verbose_name = "Instruments and acquisition"

    def ready(self) -> None:
        from studies.audit import audit_model

        from .models import AUDITED_MODELS

        for name in AUDITED_MODELS:
            audit_model(self.get_model(name))
