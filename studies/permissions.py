"""Who may do what: one rule, used by the API and the pages alike.

Visibility: a user sees the studies they are a member of (superusers see all); records
of other studies answer 404, so their existence does not leak.  Within a visible study
the member's role must reach the action's level, else 403:

=============  ==================================================================
role           may change
=============  ==================================================================
owner          everything, including members and the study itself
investigator   study details, cohorts, animals, treatments, analyses
operator       scan sessions, dosing, body weights
viewer         nothing (reads only)
=============  ==================================================================
"""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from .models import Study, role_at_least
from .vocabulary import Role


def user_role(user, study: Study) -> str | None:
    """The user's role in ``study`` (cached on the user object for one request)."""
    cache = user.__dict__.setdefault("_nanoscope_roles", {})
    if study.pk not in cache:
        cache[study.pk] = study.role_of(user)
    return cache[study.pk]


def can(user, study: Study, needed: str) -> bool:
    """True when ``user`` holds ``needed`` or a stronger role in ``study``."""
    return bool(user and user.is_authenticated) and role_at_least(user_role(user, study), needed)


class StudyRolePermission(BasePermission):
    """Object-level check against the view's ``read_role`` / ``write_role``."""

    message = "Your role in this study does not allow this action."

    def has_object_permission(self, request, view, obj) -> bool:
        needed = view.read_role if request.method in SAFE_METHODS else view.write_role
        needed = getattr(view, "action_roles", {}).get(view.action, needed)
        return can(request.user, obj.study, needed)


DEFAULT_READ_ROLE = Role.VIEWER
