from django.apps import AppConfig


class NanoscopeWebConfig(AppConfig):
    name = "nanoscope_web"
    verbose_name = "nanoscope platform"
