"""Bulk import of animals from CSV: every row or none, with a per-row error list."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from .models import Cohort, Study

#: Columns a CSV may carry (header names as in the API).
ANIMAL_COLUMNS = (
    "label",
    "cohort",
    "ear_tag",
    "rfid",
    "species",
    "strain",
    "sex",
    "date_of_birth",
    "vendor",
    "genotype",
    "cage",
    "notes",
)


@dataclass
class ImportResult:
    created: list[Any] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


def _decode(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "latin-1"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValueError("The file is not text.")


def read_rows(raw: bytes) -> list[dict[str, str]]:
    """Rows of a CSV with a header; raises ValueError for unknown or missing columns."""
    reader = csv.DictReader(io.StringIO(_decode(raw)))
    header = [name.strip() for name in reader.fieldnames or []]
    if not header:
        raise ValueError("The file has no header row.")
    unknown = sorted(set(header) - set(ANIMAL_COLUMNS))
    if unknown:
        raise ValueError(f"Unknown columns: {', '.join(unknown)}.")
    for needed in ("label", "sex"):
        if needed not in header:
            raise ValueError(f"The column '{needed}' is required.")
    rows = []
    for row in reader:
        cleaned = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        if any(cleaned.values()):
            rows.append({k: v for k, v in cleaned.items() if v != ""})
    if not rows:
        raise ValueError("The file has no data rows.")
    return rows


def import_animals(study: Study, raw: bytes, serializer_factory) -> ImportResult:
    """Validate every row with the API serializer; save all rows, or none if any fails.

    ``cohort`` may be given by name or id.  ``serializer_factory(data)`` returns a bound
    serializer (so the caller's request context and visibility rules apply).
    """
    rows = read_rows(raw)
    cohorts = {c.name: c.pk for c in Cohort.objects.filter(study=study)}
    result = ImportResult()
    serializers = []
    seen_labels: dict[str, int] = {}
    for number, row in enumerate(rows, start=2):  # line 1 is the header
        data = dict(row, study=study.pk)
        if "cohort" in data and not data["cohort"].isdigit():
            data["cohort"] = cohorts.get(data["cohort"], data["cohort"])
        serializer = serializer_factory(data)
        errors = {} if serializer.is_valid() else dict(serializer.errors)
        label = row.get("label", "")
        if label in seen_labels:
            errors.setdefault("label", []).append(
                f"Duplicate of line {seen_labels[label]} in this file."
            )
        seen_labels.setdefault(label, number)
        if errors:
            result.errors.append({"line": number, "label": label, "errors": errors})
        serializers.append(serializer)
    if result.errors:
        return result
    with transaction.atomic():
        result.created = [serializer.save() for serializer in serializers]
    return result
