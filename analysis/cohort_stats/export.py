"""CSV export of the cohort tables."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

__all__ = ["write_csv"]

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def write_csv(tables: Mapping[str, pd.DataFrame], directory: str | Path) -> list[Path]:
    """Write each table to ``<directory>/<name>.csv``.

    Parameters
    ----------
    tables : mapping of str to DataFrame
        Table name (letters, digits, ``_ . -``) → table, e.g. ``{"summary": ...,
        "pairwise": ..., "mixed_coefficients": ...}``.
    directory : str or Path
        An existing directory.

    Returns
    -------
    list of Path
        The files written, in the mapping's order. Each file is written under a
        temporary name and renamed when complete. Numbers keep full precision
        (``repr``), missing values are written as empty fields.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise ValueError(f"directory must be an existing directory, got {str(directory)!r}")
    for name, table in tables.items():
        if not _NAME.match(name):
            raise ValueError(f"table names must be letters, digits, '_', '.', '-'; got {name!r}")
        if not isinstance(table, pd.DataFrame):
            raise ValueError(f"tables[{name!r}] must be a DataFrame, got {type(table).__name__}")
    written = []
    for name, table in tables.items():
        path = folder / f"{name}.csv"
        partial = folder / f".{name}.csv.partial"
        table.to_csv(partial, index=False, float_format="%.17g")
        partial.replace(path)
        written.append(path)
    return written
