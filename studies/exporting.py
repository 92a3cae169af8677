"""Study export: every record of a study as CSV and JSON in one zip, with a manifest.

The zip holds ``<table>.csv`` and ``<table>.json`` per record type and ``manifest.json``
listing each member's sha256 and row count, the study, the time and the code version.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from nanoscope_web.renderers import rows_to_csv
from nanoscope_web.version import code_version

from . import models as m
from .audit import snapshot


def _tables(study: m.Study) -> dict[str, Any]:
    return {
        "study": m.Study.objects.filter(pk=study.pk),
        "memberships": m.Membership.objects.filter(study=study).select_related("user"),
        "cohorts": m.Cohort.objects.filter(study=study),
        "animals": m.Animal.objects.filter(study=study),
        "treatments": m.Treatment.objects.filter(cohort__study=study),
        "administrations": m.Administration.objects.filter(animal__study=study),
        "body_weights": m.BodyWeight.objects.filter(animal__study=study),
        "scan_sessions": m.ScanSession.objects.filter(animal__study=study),
        "audit_events": m.AuditEvent.objects.filter(study=study).order_by("id"),
    }


def _rows(queryset) -> list[dict[str, Any]]:
    rows = []
    for obj in queryset.order_by("pk"):
        row = snapshot(obj)
        if isinstance(obj, m.Membership):
            row["username"] = obj.user.get_username()
        rows.append(row)
    return rows


def write_study_export(
    study: m.Study, path: Path, progress: Callable[[float, str], None] | None = None
) -> dict[str, Any]:
    """Write the export zip of ``study`` to ``path``; return its manifest."""
    tables = _tables(study)
    manifest: dict[str, Any] = {
        "format": "nanoscope-study-export/1",
        "study": {"id": study.pk, "title": study.title},
        "exported_at": timezone.now().isoformat(),
        "code_version": code_version(),
        "files": {},
    }
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for index, (name, queryset) in enumerate(tables.items()):
            rows = _rows(queryset)
            members = {
                f"{name}.json": json.dumps(rows, cls=DjangoJSONEncoder, indent=1).encode(),
                f"{name}.csv": rows_to_csv(rows).encode() if rows else b"",
            }
            for member, payload in members.items():
                archive.writestr(member, payload)
                manifest["files"][member] = {
                    "sha256": hashlib.sha256(payload).hexdigest(),
                    "bytes": len(payload),
                    "rows": len(rows),
                }
            if progress:
                progress((index + 1) / (len(tables) + 1), f"exported {name}")
        archive.writestr("manifest.json", json.dumps(manifest, indent=1))
    return manifest


def export_relative_path(export: m.StudyExport) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path(f"study-{export.study_id}") / "exports" / f"export-{export.pk}-{stamp}.zip"
