"""Members and roles of a study: everyone sees them, owners manage them.

The rules are the API's, reused as they are: ``MembershipSerializer`` validates an
addition or a role change (known user, one membership per user, a study keeps an owner)
and ``MembershipViewSet.perform_destroy`` refuses to remove the last owner.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST
from rest_framework.exceptions import ValidationError as ApiValidationError

from studies.models import Membership
from studies.serializers import MembershipSerializer
from studies.views import MembershipViewSet
from studies.vocabulary import Role

from ..access import study_for
from ..forms import MemberForm
from .common import study_page


def _members_page(request: HttpRequest, study, form: MemberForm | None = None) -> HttpResponse:
    members = study.memberships.select_related("user").order_by("user__username")
    return study_page(
        request,
        study,
        "members",
        "frontend/study_members.html",
        members=members,
        form=form or MemberForm(),
        roles=Role.choices,
    )


def _api_errors(form, errors: dict) -> None:
    for field, messages_ in errors.items():
        target = field if field in form.fields else None
        for message in messages_:
            form.add_error(target, str(message))


@login_required
def study_members(request: HttpRequest, study_id: int) -> HttpResponse:
    """The member list; a POST (owners) adds a member."""
    if request.method != "POST":
        return _members_page(request, study_for(request, study_id))
    study = study_for(request, study_id, Role.OWNER)
    form = MemberForm(request.POST)
    if form.is_valid():
        data = {"study": study.pk, **form.cleaned_data}
        serializer = MembershipSerializer(data=data, context={"request": request})
        if serializer.is_valid():
            membership = serializer.save()
            messages.success(request, f"{membership.user} is now {membership.role}.")
            return redirect("frontend:study-members", study_id=study.pk)
        _api_errors(form, serializer.errors)
    return _members_page(request, study, form)


def _joined(errors: dict) -> str:
    return " ".join(str(message) for messages_ in errors.values() for message in messages_)


@login_required
@require_POST
def member_role(request: HttpRequest, study_id: int, membership_id: int) -> HttpResponse:
    study = study_for(request, study_id, Role.OWNER)
    membership = get_object_or_404(Membership, pk=membership_id, study=study)
    serializer = MembershipSerializer(
        membership,
        data={"role": request.POST.get("role", "")},
        partial=True,
        context={"request": request},
    )
    if serializer.is_valid():
        serializer.save()
        messages.success(request, f"{membership.user} is now {membership.role}.")
    else:
        messages.error(request, _joined(serializer.errors))
    return redirect("frontend:study-members", study_id=study.pk)


@login_required
@require_POST
def member_remove(request: HttpRequest, study_id: int, membership_id: int) -> HttpResponse:
    study = study_for(request, study_id, Role.OWNER)
    membership = get_object_or_404(Membership, pk=membership_id, study=study)
    try:
        MembershipViewSet().perform_destroy(membership)
    except ApiValidationError as exc:
        messages.error(request, _joined(exc.detail))
    else:
        messages.success(request, f"{membership.user} is no longer a member.")
    return redirect("frontend:study-members", study_id=study.pk)
