"""Structured logs: every line names the request — or, inside a Celery task, the job's task id.

- Celery's ``task_prerun`` / ``task_postrun`` signals put the task id into the request-id
  context (:data:`nanoscope_web.middleware.request_id_var`) while a task runs, so its log
  lines and the audit events it writes carry the id of the job that made them.
- :class:`JsonFormatter` writes one JSON object per line (``LOG_FORMAT=json``) for log
  collectors: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``request_id``,
  ``message`` and, on errors, ``exception``.

The settings' ``LOGGING`` names this module, so configuring logging (every web and
worker process does it at start) imports it and connects the signals.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging

from celery.signals import task_postrun, task_prerun

from .middleware import current_request_id, request_id_var

_tokens: dict[str, contextvars.Token] = {}


@task_prerun.connect(dispatch_uid="nanoscope-task-request-id-bind")
def bind_task_id(task_id: str | None = None, **kwargs) -> None:
    """Make the running task's id the request id of everything it logs and audits."""
    if task_id:
        _tokens[task_id] = request_id_var.set(task_id)


@task_postrun.connect(dispatch_uid="nanoscope-task-request-id-unbind")
def unbind_task_id(task_id: str | None = None, **kwargs) -> None:
    """Restore the request id that was there before the task."""
    token = _tokens.pop(task_id, None) if task_id else None
    if token is None:
        return
    try:
        request_id_var.reset(token)
    except ValueError:  # set in another context (a pool that switched threads)
        request_id_var.set("-")


class JsonFormatter(logging.Formatter):
    """One JSON object per log record."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", None) or current_request_id(),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        with contextlib.suppress(TypeError, ValueError):
            return json.dumps(entry, ensure_ascii=False)
        return json.dumps({**entry, "message": repr(record.msg)}, ensure_ascii=False)
