"""Bulk files under the data root: study-scoped paths, atomic writes, checksums.

Files are written under a temporary name beside their final place and renamed when
complete (a rename within one file system is atomic), so a file with its final name is
always whole; they are never changed afterwards, and their sha256 is kept with the
record that points at them as a path relative to ``NANOSCOPE_DATA_ROOT``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

_CHUNK = 4 * 1024 * 1024


def data_root() -> Path:
    """The data root folder (created if missing)."""
    root = Path(settings.NANOSCOPE_DATA_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    return root


def study_folder(study_id: int) -> Path:
    """Relative folder of a study's files: ``study-<id>``."""
    return Path(f"study-{study_id}")


def absolute(relative: str | Path) -> Path:
    """The absolute path of a stored relative path, refusing to leave the data root."""
    root = data_root().resolve()
    path = (root / relative).resolve()
    if root not in path.parents:
        raise ValueError(f"{relative!s} is outside the data root")
    return path


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_output(relative: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; rename it to ``relative`` only if the block succeeds.

    On any exception the temporary file is removed and the final name never appears.
    """
    final = absolute(relative)
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.with_name(f".{final.name}.{uuid.uuid4().hex}.partial")
    try:
        yield temporary
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
