"""The audit trail: every create, update and delete of a lab record becomes an AuditEvent.

Signals catch every path that saves through the ORM — the API, the pages, the admin,
management commands and workers — so no view has to remember.  Who and why come from
the *audit context*: the middleware puts the request there (its user is read at save
time, so token-authenticated API users are seen too), and tasks or commands open one
with :func:`audit_context`.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import decimal
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models.signals import post_delete, post_save, pre_save

from nanoscope_web.middleware import current_request_id


@dataclass(frozen=True)
class AuditActor:
    """Who acts, where from (``api``, ``page``, ``admin``, ``task``, ``command``), and why."""

    user: Any = None
    source: str = ""
    reason: str = ""
    request: Any = None

    def resolved_user(self):
        user = getattr(self.request, "user", None) if self.request is not None else self.user
        return user if getattr(user, "is_authenticated", False) else None


_SYSTEM = AuditActor(source="system")
_actor: contextvars.ContextVar[AuditActor] = contextvars.ContextVar(
    "audit_actor",
    default=_SYSTEM,  # noqa: B039 — frozen dataclass, never mutated
)


@contextlib.contextmanager
def audit_context(
    *, user=None, source: str = "task", reason: str = "", request=None
) -> Iterator[AuditActor]:
    """Attribute every record change inside the block to ``user`` (with ``reason``)."""
    actor = AuditActor(user=user, source=source, reason=reason, request=request)
    token = _actor.set(actor)
    try:
        yield actor
    finally:
        _actor.reset(token)


@contextlib.contextmanager
def audit_reason(reason: str) -> Iterator[AuditActor]:
    """Give every record change inside the block ``reason``; who acts and where from stay.

    For a step that needs its own reason within a request, command or task (a dose budget
    override, a correction by the worker).
    """
    outer = _actor.get()
    with audit_context(
        user=outer.user, source=outer.source, reason=reason, request=outer.request
    ) as actor:
        yield actor


def _source_of(path: str) -> str:
    if path.startswith("/api/"):
        return "api"
    if path.startswith("/admin/"):
        return "admin"
    return "page"


class AuditContextMiddleware:
    """Open an audit context for each request; ``X-Audit-Reason`` gives the reason."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        reason = request.headers.get("X-Audit-Reason", "")[:2000]
        with audit_context(request=request, source=_source_of(request.path), reason=reason):
            return self.get_response(request)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def snapshot(instance: models.Model) -> dict[str, Any]:
    """The instance's concrete field values (foreign keys as ids), JSON-ready."""
    return {
        field.attname: _jsonable(field.value_from_object(instance))
        for field in instance._meta.concrete_fields
    }


def _study_id(instance: models.Model) -> int | None:
    try:
        return instance.study.pk
    except Exception:  # noqa: BLE001 — a dangling parent must never block a save
        return None


def record_event(instance: models.Model, action: str, changes: dict[str, list[Any]]) -> None:
    from .models import AuditEvent

    actor = _actor.get()
    user = actor.resolved_user()
    AuditEvent.objects.create(
        study_id=_study_id(instance),
        user=user,
        username=user.get_username() if user else actor.source or "system",
        action=action,
        model=instance._meta.label_lower,
        object_id=str(instance.pk),
        object_repr=str(instance)[:300],
        changes=changes,
        request_id=current_request_id(),
        source=actor.source,
        reason=actor.reason,
    )


def _before_save(sender, instance, raw=False, **kwargs):
    if raw or instance._state.adding or instance.pk is None:
        instance._audit_before = None
        return
    stored = sender._default_manager.filter(pk=instance.pk).first()
    instance._audit_before = snapshot(stored) if stored is not None else None


def _after_save(sender, instance, created, raw=False, **kwargs):
    if raw:
        return
    after = snapshot(instance)
    before = getattr(instance, "_audit_before", None)
    if created or before is None:
        record_event(instance, "create", {k: [None, v] for k, v in after.items()})
        return
    changes = {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}
    if changes:
        record_event(instance, "update", changes)


def _after_delete(sender, instance, **kwargs):
    record_event(instance, "delete", {k: [v, None] for k, v in snapshot(instance).items()})


def audited_models() -> list[type[models.Model]]:
    from . import models as m

    return [
        m.Study,
        m.Membership,
        m.Cohort,
        m.Animal,
        m.Treatment,
        m.Administration,
        m.BodyWeight,
        m.ScanSession,
        m.ScanPlan,
        m.Flag,
    ]


def audit_model(model: type[models.Model]) -> None:
    """Record every save and delete of ``model`` in the audit trail (idempotent).

    Other apps call this from their ``AppConfig.ready()`` for their own records.
    """
    uid = f"audit-{model._meta.label_lower}"
    pre_save.connect(_before_save, sender=model, dispatch_uid=f"{uid}-pre")
    post_save.connect(_after_save, sender=model, dispatch_uid=f"{uid}-post")
    post_delete.connect(_after_delete, sender=model, dispatch_uid=f"{uid}-del")


def connect_signals() -> None:
    for model in audited_models():
        audit_model(model)
