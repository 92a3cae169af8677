"""Write-then-rename for bulk files: a file under its final name is always whole.

A file is written as ``.<name>.<random>.partial`` beside its final place, flushed to the
disk (``fsync``) and renamed (atomic within one file system); the folder is synced so
the rename survives a crash. A failed write removes the partial file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from pathlib import Path

__all__ = ["commit_file", "partial_path_for", "remove_quietly", "sha256_file"]


def partial_path_for(final: Path) -> Path:
    """The temporary name of ``final`` while it is written (clearly not complete)."""
    return final.with_name(f".{final.name}.{uuid.uuid4().hex[:12]}.partial")


def commit_file(partial: Path, final: Path) -> None:
    """fsync ``partial``, rename it to ``final`` and fsync the folder.

    Raises
    ------
    FileExistsError
        When ``final`` already exists (files are never replaced).
    """
    with open(partial, "rb") as handle:
        os.fsync(handle.fileno())
    if final.exists():
        raise FileExistsError(f"{final} already exists; scan files are never replaced")
    os.replace(partial, final)
    folder = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def remove_quietly(path: Path) -> None:
    """Delete ``path`` if it exists."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
