"""CSV rendering of any API list (``?format=csv`` or ``Accept: text/csv``)."""

from __future__ import annotations

import csv
import io
from typing import Any

from rest_framework.renderers import BaseRenderer


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, prefix=f"{name}."))
        elif isinstance(value, list):
            flat[name] = ";".join(str(item) for item in value)
        else:
            flat[name] = "" if value is None else value
    return flat


def rows_to_csv(rows: list[dict[str, Any]]) -> str:
    """Render dictionaries as CSV; nested objects become dotted columns."""
    flat_rows = [_flatten(row) for row in rows]
    columns: list[str] = []
    for row in flat_rows:
        columns.extend(key for key in row if key not in columns)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat_rows)
    return out.getvalue()


class CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if data is None:
            return b""
        if isinstance(data, dict) and "results" in data:
            data = data["results"]
        if isinstance(data, dict):
            data = [data]
        return rows_to_csv(list(data)).encode(self.charset)
