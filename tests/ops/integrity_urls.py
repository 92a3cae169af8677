"""The project's URLs with the integrity-check runs mounted, until ``nanoscope_web/urls.py``
includes ``nanoscope_web.integrity_api`` itself (then this adds a duplicate that never
matches first)."""

from django.urls import include, path

from nanoscope_web.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path("api/v1/", include("nanoscope_web.integrity_api")),
    *project_urlpatterns,
]
