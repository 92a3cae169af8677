from django.urls import path

from . import views

app_name = "frontend"

urlpatterns = [
    path("", views.study_list, name="study-list"),
    path("studies/<int:study_id>/", views.study_detail, name="study-detail"),
    path("studies/<int:study_id>/animals/new/", views.animal_edit, name="animal-new"),
    path(
        "studies/<int:study_id>/animals/<int:animal_id>/edit/",
        views.animal_edit,
        name="animal-edit",
    ),
]
