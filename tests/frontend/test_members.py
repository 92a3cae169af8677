"""Members and roles: owners manage them with the API's rules; others only see them."""

from __future__ import annotations

from django.urls import reverse

from studies import models as m

from .conftest import make_user


def members_url(world):
    return reverse("frontend:study-members", args=[world.study.pk])


def membership(world, who):
    return m.Membership.objects.get(study=world.study, user=world.users[who])


def test_an_owner_adds_a_member_by_username(world, pages):
    make_user("newbie")
    response = pages("owner").post(members_url(world), {"user": "newbie", "role": "operator"})
    assert response.status_code == 302
    added = m.Membership.objects.get(study=world.study, user__username="newbie")
    assert added.role == "operator"
    event = m.AuditEvent.objects.get(model="studies.membership", object_id=str(added.pk))
    assert (event.action, event.source, event.username) == ("create", "page", "owner")


def test_an_unknown_user_or_a_second_membership_gets_a_field_message(world, pages):
    response = pages("owner").post(members_url(world), {"user": "nobody", "role": "viewer"})
    assert response.context["form"].errors["user"] == [
        "Object with username=nobody does not exist."
    ]
    response = pages("owner").post(members_url(world), {"user": "viewer", "role": "viewer"})
    assert response.context["form"].errors["__all__"] == [
        "The fields study, user must make a unique set."
    ]
    assert m.Membership.objects.filter(study=world.study).count() == 4


def test_an_owner_changes_a_role(world, pages):
    target = membership(world, "viewer")
    url = reverse("frontend:member-role", args=[world.study.pk, target.pk])
    pages("owner").post(url, {"role": "investigator"})
    target.refresh_from_db()
    assert target.role == "investigator"


def test_the_last_owner_can_neither_be_demoted_nor_removed(world, pages):
    owner = membership(world, "owner")
    role_url = reverse("frontend:member-role", args=[world.study.pk, owner.pk])
    response = pages("owner").post(role_url, {"role": "viewer"}, follow=True)
    assert "A study keeps at least one owner." in response.content.decode()
    remove_url = reverse("frontend:member-remove", args=[world.study.pk, owner.pk])
    response = pages("owner").post(remove_url, follow=True)
    assert "A study keeps at least one owner." in response.content.decode()
    owner.refresh_from_db()
    assert owner.role == "owner"


def test_an_owner_removes_a_member(world, pages):
    target = membership(world, "viewer")
    pages("owner").post(reverse("frontend:member-remove", args=[world.study.pk, target.pk]))
    assert not m.Membership.objects.filter(pk=target.pk).exists()
    assert m.AuditEvent.objects.get(model="studies.membership", action="delete").source == "page"


def test_an_investigator_sees_the_roles_but_no_controls(world, pages):
    html = pages("investigator").get(members_url(world)).content.decode()
    assert 'class="role role-viewer">Viewer</span>' in html
    assert "/role/" not in html and "/remove/" not in html and 'name="user"' not in html
