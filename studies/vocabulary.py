"""Fixed vocabularies of the lab records (choices shared by models, API and pages)."""

from django.db import models


class Role(models.TextChoices):
    """A member's role in a study, strongest first."""

    OWNER = "owner", "Owner"
    INVESTIGATOR = "investigator", "Investigator"
    OPERATOR = "operator", "Operator"
    VIEWER = "viewer", "Viewer"


#: Rank of each role: a role can do everything a lower-ranked role can.
ROLE_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.INVESTIGATOR: 2, Role.OWNER: 3}


class StudyStatus(models.TextChoices):
    PLANNING = "planning", "Planning"
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    ARCHIVED = "archived", "Archived"


class Sex(models.TextChoices):
    FEMALE = "female", "Female"
    MALE = "male", "Male"


class AnimalStatus(models.TextChoices):
    ALIVE = "alive", "Alive"
    EXCLUDED = "excluded", "Excluded"
    EUTHANISED = "euthanised", "Euthanised"
    DIED = "died", "Died"


class TreatmentKind(models.TextChoices):
    DRUG = "drug", "Drug"
    VEHICLE = "vehicle", "Vehicle"
    SURGERY = "surgery", "Surgery"
    LOADING = "loading", "Mechanical loading"


class DoseUnit(models.TextChoices):
    MG_PER_KG = "mg/kg", "mg/kg"
    UG_PER_KG = "ug/kg", "µg/kg"
    NG_PER_KG = "ng/kg", "ng/kg"
    ML_PER_KG = "mL/kg", "mL/kg"
    IU_PER_KG = "IU/kg", "IU/kg"
    MG = "mg", "mg (per animal)"
    UG = "ug", "µg (per animal)"
    NEWTON = "N", "N (peak load)"


class Route(models.TextChoices):
    SUBCUTANEOUS = "sc", "Subcutaneous"
    INTRAPERITONEAL = "ip", "Intraperitoneal"
    INTRAVENOUS = "iv", "Intravenous"
    ORAL = "po", "Oral (gavage)"
    DRINKING_WATER = "water", "Drinking water"
    INTRAMUSCULAR = "im", "Intramuscular"
    SURGICAL = "surgical", "Surgical"
    MECHANICAL = "mechanical", "Mechanical"


class AnatomicalSite(models.TextChoices):
    TIBIA_LEFT_PROXIMAL = "tibia-left-proximal", "Tibia, left, proximal metaphysis"
    TIBIA_RIGHT_PROXIMAL = "tibia-right-proximal", "Tibia, right, proximal metaphysis"
    FEMUR_LEFT_DISTAL = "femur-left-distal", "Femur, left, distal metaphysis"
    FEMUR_RIGHT_DISTAL = "femur-right-distal", "Femur, right, distal metaphysis"
    L5_VERTEBRA = "L5-vertebra", "L5 vertebra"
    CAUDAL_VERTEBRA_6 = "caudal-vertebra-6", "Caudal vertebra 6"


class SessionState(models.TextChoices):
    PLANNED = "planned", "Planned"
    QUEUED = "queued", "Queued"
    ACQUIRING = "acquiring", "Acquiring"
    ACQUIRED = "acquired", "Acquired"
    RECONSTRUCTED = "reconstructed", "Reconstructed"
    ANALYSED = "analysed", "Analysed"
    FAILED = "failed", "Failed"
    ABORTED = "aborted", "Aborted"
    INTERRUPTED = "interrupted", "Interrupted"


#: The scan-session state machine: state → states it may move to.
SESSION_TRANSITIONS: dict[str, frozenset[str]] = {
    SessionState.PLANNED: frozenset({SessionState.QUEUED, SessionState.ABORTED}),
    SessionState.QUEUED: frozenset(
        {SessionState.ACQUIRING, SessionState.PLANNED, SessionState.ABORTED}
    ),
    SessionState.ACQUIRING: frozenset(
        {
            SessionState.ACQUIRED,
            SessionState.FAILED,
            SessionState.ABORTED,
            SessionState.INTERRUPTED,
        }
    ),
    SessionState.ACQUIRED: frozenset({SessionState.RECONSTRUCTED, SessionState.FAILED}),
    SessionState.RECONSTRUCTED: frozenset(
        {SessionState.ANALYSED, SessionState.RECONSTRUCTED, SessionState.FAILED}
    ),
    SessionState.ANALYSED: frozenset({SessionState.RECONSTRUCTED, SessionState.ANALYSED}),
    SessionState.FAILED: frozenset({SessionState.QUEUED}),
    SessionState.ABORTED: frozenset({SessionState.PLANNED}),
    SessionState.INTERRUPTED: frozenset({SessionState.QUEUED}),
}

#: States a session enters only together with its acquisition job (a scan request, a
#: re-queue, plan queueing, the instrument worker, an import), never by a hand move: a
#: session moved there by hand has no job, so no worker ever scans it, and both a scan
#: request and an import refuse it while it waits there.
JOB_ENTERED_STATES: dict[str, str] = {
    SessionState.QUEUED: (
        "A session is queued only with its acquisition: request a scan "
        "(POST /api/v1/acquisitions/ with the session and a protocol) or re-queue the "
        "interrupted or failed acquisition (POST /api/v1/acquisitions/<id>/requeue/ "
        "with a reason)."
    ),
    SessionState.ACQUIRING: "Only the instrument worker that runs its scan starts acquiring.",
}


class JobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
