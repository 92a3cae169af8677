from django.urls import path

from .views import (
    analysis,
    animals,
    audit,
    dashboard,
    members,
    renders,
    sessions,
    studies,
    transfer,
    treatments,
)

app_name = "frontend"

S = "studies/<int:study_id>/"

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("queue/", dashboard.queue_panel, name="queue-panel"),
    path("studies/", studies.study_list, name="study-list"),
    path("studies/new/", studies.study_edit, name="study-new"),
    path(S, studies.study_detail, name="study-detail"),
    path(f"{S}edit/", studies.study_edit, name="study-edit"),
    path(f"{S}schedule/", studies.study_schedule, name="study-schedule"),
    path(f"{S}members/", members.study_members, name="study-members"),
    path(f"{S}members/<int:membership_id>/role/", members.member_role, name="member-role"),
    path(f"{S}members/<int:membership_id>/remove/", members.member_remove, name="member-remove"),
    path(f"{S}audit/", audit.study_audit, name="study-audit"),
    path(f"{S}data/", transfer.study_data, name="study-data"),
    path(f"{S}exports/", transfer.export_create, name="export-new"),
    path(f"{S}cohorts/new/", studies.cohort_edit, name="cohort-new"),
    path(f"{S}cohorts/<int:cohort_id>/edit/", studies.cohort_edit, name="cohort-edit"),
    path(f"{S}treatments/new/", treatments.treatment_edit, name="treatment-new"),
    path(
        f"{S}treatments/<int:treatment_id>/edit/",
        treatments.treatment_edit,
        name="treatment-edit",
    ),
    path(
        f"{S}treatments/<int:treatment_id>/plan/",
        treatments.treatment_plan,
        name="treatment-plan",
    ),
    path(
        f"{S}administrations/<int:administration_id>/",
        treatments.administration_complete,
        name="administration-complete",
    ),
    path(f"{S}animals/new/", animals.animal_edit, name="animal-new"),
    path(f"{S}animals/<int:animal_id>/", animals.animal_detail, name="animal-detail"),
    path(f"{S}animals/<int:animal_id>/edit/", animals.animal_edit, name="animal-edit"),
    path(f"{S}animals/<int:animal_id>/weights/new/", animals.weight_edit, name="weight-new"),
    path(
        f"{S}animals/<int:animal_id>/weights/<int:weight_id>/edit/",
        animals.weight_edit,
        name="weight-edit",
    ),
    path(f"{S}sessions/new/", sessions.session_edit, name="session-new"),
    path(f"{S}sessions/<int:session_id>/", sessions.session_detail, name="session-detail"),
    path(f"{S}sessions/<int:session_id>/edit/", sessions.session_edit, name="session-edit"),
    path(
        f"{S}sessions/<int:session_id>/transition/",
        sessions.session_transition,
        name="session-transition",
    ),
    # Scanning: acquisitions, reconstructions (the API's rules, served to the pages).
    path(
        f"{S}sessions/<int:session_id>/acquisitions/new/",
        sessions.acquisition_start,
        name="acquisition-start",
    ),
    path(
        f"{S}sessions/<int:session_id>/acquisitions/<int:job_id>/<str:action>/",
        sessions.acquisition_action,
        name="acquisition-action",
    ),
    path(
        f"{S}sessions/<int:session_id>/reconstructions/new/",
        sessions.reconstruction_start,
        name="reconstruction-start",
    ),
    # Cohorts over time: plot and statistics of one bone parameter.
    path(f"{S}analysis/", analysis.study_analysis, name="study-analysis"),
    # Dose budget use per animal.
    path(f"{S}dose/", studies.study_dose, name="study-dose"),
    # Renders and meshes.
    path(
        f"{S}volumes/<int:volume_id>/thumbnail.png",
        renders.volume_thumbnail,
        name="volume-thumbnail",
    ),
    path(
        f"{S}volumes/<int:volume_id>/surface.<str:fmt>",
        renders.volume_mesh,
        name="volume-mesh",
    ),
    path(f"{S}volumes/<int:volume_id>/render/", renders.volume_render, name="volume-render"),
    path(
        f"{S}animals/<int:animal_id>/strips/<str:site>.png",
        renders.animal_strip,
        name="animal-strip",
    ),
    path(
        f"{S}animals/<int:animal_id>/strips/<str:site>/render/",
        renders.animal_strip_render,
        name="animal-strip-render",
    ),
]
