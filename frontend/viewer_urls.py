"""Routes of the volume viewer: its page and the data endpoints it reads."""

from django.urls import path

from . import slices, viewer_page

app_name = "viewer"

V = "volumes/<int:volume_id>/"

urlpatterns = [
    path(f"{V}view/", viewer_page.viewer, name="page"),
    path(f"{V}data/metadata", slices.metadata, name="metadata"),
    path(f"{V}data/slice", slices.slice_image, name="slice"),
    path(f"{V}data/tile", slices.tile, name="tile"),
    path(f"{V}data/labels/<str:name>", slices.label_slice, name="label"),
    path(f"{V}data/preview", slices.preview, name="preview"),
]
