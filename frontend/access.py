"""The pages' side of the one access rule in ``studies/permissions.py``.

A study the user is not a member of answers 404 (``Study.objects.visible_to``); a role
too weak for the page's action answers 403 (``studies.permissions.can``).  Templates get
an :class:`Abilities` so that they show only the controls the server would accept.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from studies.models import Study
from studies.permissions import StudyRolePermission, can, user_role
from studies.vocabulary import Role


def study_for(request, study_id: int, needed: str = Role.VIEWER) -> Study:
    """The study ``study_id`` if ``request.user`` may see it and holds ``needed``.

    Raises
    ------
    Http404
        The study does not exist or the user is not a member (superusers see all).
    PermissionDenied
        The user's role in the study is weaker than ``needed`` (403).
    """
    study = get_object_or_404(Study.objects.visible_to(request.user), pk=study_id)
    if not can(request.user, study, needed):
        raise PermissionDenied(StudyRolePermission.message)
    return study


@dataclass(frozen=True)
class Abilities:
    """What the user's role lets them change in one study (mirrors the API's roles)."""

    role: str | None
    edit_records: bool  # study, cohorts, animals, treatments, CSV import (investigator)
    operate: bool  # scan sessions, dosing, body weights (operator)
    manage_members: bool  # members and roles (owner)
    read_audit: bool  # the audit trail (investigator)

    @classmethod
    def of(cls, user, study: Study) -> Abilities:
        return cls(
            role=user_role(user, study),
            edit_records=can(user, study, Role.INVESTIGATOR),
            operate=can(user, study, Role.OPERATOR),
            manage_members=can(user, study, Role.OWNER),
            read_audit=can(user, study, Role.INVESTIGATOR),
        )
