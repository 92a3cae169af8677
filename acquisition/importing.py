"""Import of external scans: NXtomo, DXchange HDF5, or a TIFF stack with JSON geometry.

Whatever arrives is staged in a private folder under the data root, validated with
:func:`acquisition.formats.validate_scan` (dimensions, dtype, angles, flats and darks,
geometry, readable data), and only then stored beside the session's other scans:

* an NXtomo file is kept byte for byte (its sha256 is that of the upload);
* a DXchange file or a TIFF stack is converted, frame by frame, into NXtomo, so every
  stored raw scan opens the same way downstream.

The stored file appears under its final name only when complete (write-then-rename), and
the :class:`~acquisition.models.Scan` record is created in the same step; on any error
the staged files, the stored file and the record are all gone — nothing half-imported
stays behind.

The dose an imported scan delivered (``dose_mgy``, when given) obeys the study's budget as
a live scan does: an import that would take the animal past its budget at the site is
refused (:class:`ImportOverBudget`, before anything is staged and again under the
animal's lock) unless an ``override_reason`` is given — who may override is the
caller's rule (investigators) — and then the records are audited with that reason and
the ledger entry says so.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import uuid
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from django.db import transaction

from studies.audit import audit_reason
from studies.datafiles import data_root
from studies.models import ScanSession
from studies.vocabulary import SessionState

from .dose import BudgetCheck
from .drivers.base import AcquisitionSettings, Frame, FrameType
from .formats import (
    NXtomoWriter,
    ScanData,
    ScanFormatError,
    UnreadableFileError,
    UnsupportedDtypeError,
    validate_scan,
)
from .formats.atomic import commit_file, sha256_file
from .models import (
    DoseKind,
    DoseRecord,
    Scan,
    ScanFormat,
    ScanSource,
    budget_check,
    geometry_record,
    lock_animal,
    session_folder,
)

IMPORT_FORMATS = ScanFormat.choices

#: Session states from which an import moves the session to ``acquired`` (and the path).
_TO_ACQUIRED = {
    SessionState.PLANNED: [SessionState.QUEUED, SessionState.ACQUIRING, SessionState.ACQUIRED],
    SessionState.FAILED: [SessionState.QUEUED, SessionState.ACQUIRING, SessionState.ACQUIRED],
    SessionState.INTERRUPTED: [
        SessionState.QUEUED,
        SessionState.ACQUIRING,
        SessionState.ACQUIRED,
    ],
    SessionState.ABORTED: [
        SessionState.PLANNED,
        SessionState.QUEUED,
        SessionState.ACQUIRING,
        SessionState.ACQUIRED,
    ],
}
_BUSY = (SessionState.QUEUED, SessionState.ACQUIRING)


class ImportRefused(ValueError):
    """The session cannot take an imported scan now (e.g. a scan of it is running)."""


class ImportOverBudget(ImportRefused):
    """The imported scan's dose would take the animal past its study's budget at the site."""

    def __init__(self, check: BudgetCheck, animal: str, site: str):
        super().__init__(
            f"Not imported: {check.overrun(animal, site)} An investigator may import it "
            f"with a written override reason."
        )
        self.check = check


def _check_budget(session: ScanSession, dose_mgy: float | None, override_reason: str) -> bool:
    """Whether booking ``dose_mgy`` needs the override; raise if it does and none is given.

    Raises
    ------
    ImportOverBudget
        Past the budget and no ``override_reason``.
    """
    if dose_mgy is None:
        return False
    check = budget_check(session.animal, session.site, dose_mgy)
    if check.allowed:
        return False
    if not override_reason:
        raise ImportOverBudget(check, session.animal.label, session.site)
    return True


@contextlib.contextmanager
def _staging() -> Iterator[Path]:
    """A private folder on the data root's file system, removed afterwards."""
    folder = data_root() / ".staging" / uuid.uuid4().hex
    folder.mkdir(parents=True)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _check_size(n_bytes: int) -> None:
    limit = settings.NANOSCOPE_UPLOAD_MAX_BYTES
    if n_bytes > limit:
        raise UnreadableFileError(f"the upload is {n_bytes} bytes, above the {limit}-byte limit")


def _save_chunks(chunks: Iterable[bytes], target: Path) -> None:
    written = 0
    with open(target, "wb") as handle:
        for chunk in chunks:
            written += len(chunk)
            _check_size(written)
            handle.write(chunk)


def _unzip(archive: Path, folder: Path) -> Path:
    """Extract a zip safely; return the TIFF stack's JSON (``geometry.json`` or the only one)."""
    if not zipfile.is_zipfile(archive):
        raise UnreadableFileError(
            "a TIFF stack is uploaded as a zip of the TIFF files and their JSON description"
        )
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = [m for m in bundle.infolist() if not m.is_dir()]
            _check_size(sum(m.file_size for m in members))
            for member in members:
                name = PurePosixPath(member.filename)
                if name.is_absolute() or ".." in name.parts:
                    raise UnreadableFileError(f"zip member {member.filename!r} leaves its folder")
            bundle.extractall(folder, members)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise UnreadableFileError(f"the zip archive is unreadable ({exc})") from exc
    found = sorted(p for p in folder.rglob("*.json") if p.is_file())
    named = [p for p in found if p.name == "geometry.json"]
    candidates = named or found
    if len(candidates) != 1:
        raise UnreadableFileError(
            f"the zip must hold one geometry.json describing the stack, found {len(candidates)}"
        )
    return candidates[0]


def _unknown(metadata: Mapping[str, Any], key: str) -> float:
    value = metadata.get(key)
    return float(value) if value is not None else math.nan


def _settings_of(scan: ScanData) -> AcquisitionSettings:
    """Acquisition settings as far as the file tells them (unknown values are NaN)."""
    angles = scan.angles_deg
    n = scan.n_projections
    span = float(angles[-1] - angles[0]) * n / (n - 1) if n > 1 else 360.0
    return AcquisitionSettings(
        kv=_unknown(scan.metadata, "kv"),
        ua=_unknown(scan.metadata, "ua"),
        exposure_s=_unknown(scan.metadata, "exposure_s"),
        frame_rate_hz=math.nan,
        n_projections=n,
        angular_range_deg=span,
        binning=1,
        n_flats=len(scan.flats),
        n_darks=len(scan.darks),
        anatomical_site="",
    )


def _frames(scan: ScanData) -> Iterator[Frame]:
    for index, image in enumerate(scan.darks):
        yield Frame(image, float(scan.angles_deg[0]), 0.0, FrameType.DARK, index)
    for index, image in enumerate(scan.flats):
        yield Frame(image, float(scan.angles_deg[0]), 0.0, FrameType.FLAT, index)
    for index in range(scan.n_projections):
        yield Frame(
            scan.projections[index],
            float(scan.angles_deg[index]),
            0.0,
            FrameType.PROJECTION,
            index,
        )


def _convert(scan: ScanData, target: Path) -> None:
    """Stream a validated scan into an NXtomo file at ``target``."""
    dtype = scan.projections.dtype
    for label, stack in (("flat fields", scan.flats), ("dark fields", scan.darks)):
        if stack.dtype != dtype:
            raise UnsupportedDtypeError(
                f"{scan.path.name}: {label} are {stack.dtype} but projections are {dtype}"
            )
    with NXtomoWriter(
        target,
        frame_shape=scan.frame_shape,
        dtype=str(dtype),
        geometry=scan.geometry,
        settings=_settings_of(scan),
        sample_name=scan.sample_name,
        expected_frames=len(scan.darks) + len(scan.flats) + scan.n_projections,
    ) as writer:
        for frame in _frames(scan):
            writer.append(frame)
        writer.commit()


def _move_session_to_acquired(session: ScanSession) -> None:
    for state in _TO_ACQUIRED.get(session.state, []):
        session.transition_to(state)


def _store(
    session: ScanSession,
    staged: Path,
    scan: ScanData,
    fmt: str,
    *,
    user,
    original_name: str,
    dose_mgy: float | None,
    override_reason: str,
) -> Scan:
    relative = session_folder(session) / f"import-{uuid.uuid4().hex[:12]}.nxs"
    final = data_root() / relative
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        with transaction.atomic():
            lock_animal(session.animal_id)
            locked = ScanSession.objects.select_for_update().get(pk=session.pk)
            if locked.state in _BUSY:
                raise ImportRefused(
                    f"The session is {locked.state}: wait for its scan or abort it."
                )
            overridden = _check_budget(locked, dose_mgy, override_reason)
            audited = audit_reason(override_reason) if overridden else contextlib.nullcontext()
            note = f"; over budget, overridden: {override_reason}" if overridden else ""
            with audited:
                record = _create_records(
                    locked, staged, final, relative, scan, fmt,
                    user=user, original_name=original_name, dose_mgy=dose_mgy, override_note=note,
                )  # fmt: skip
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            final.unlink()
        raise
    return record


def _create_records(
    session: ScanSession,
    staged: Path,
    final: Path,
    relative: Path,
    scan: ScanData,
    fmt: str,
    *,
    user,
    original_name: str,
    dose_mgy: float | None,
    override_note: str,
) -> Scan:
    """Put the file in place; create the Scan, its ledger entry, move the session on."""
    commit_file(staged, final)
    record = Scan.objects.create(
        session=session,
        source=ScanSource.IMPORTED,
        format=fmt,
        relative_path=str(relative),
        sha256=sha256_file(final),
        size_bytes=final.stat().st_size,
        n_frames=len(scan.darks) + len(scan.flats) + scan.n_projections,
        n_projections=scan.n_projections,
        frame_shape=list(scan.frame_shape),
        geometry=geometry_record(scan.geometry),
        original_name=original_name[:300],
        created_by=user,
    )
    if dose_mgy is not None:
        DoseRecord.objects.create(
            animal=session.animal,
            site=session.site,
            dose_mgy=dose_mgy,
            kind=DoseKind.EXTERNAL,
            scan=record,
            note=f"imported {original_name}{override_note}"[:300],
        )
    _move_session_to_acquired(session)
    return record


def _ingest(
    session: ScanSession,
    source: Path,
    fmt: str,
    folder: Path,
    *,
    user,
    original_name: str,
    dose_mgy: float | None,
    geometry: Mapping[str, Any] | None,
    override_reason: str,
) -> Scan:
    """Validate ``source`` (staged in ``folder``), make the NXtomo to keep, store it."""
    scan = validate_scan(source, fmt, geometry)
    if fmt == ScanFormat.NXTOMO:
        staged = source
    else:
        staged = folder / "converted.nxs"
        _convert(scan, staged)
    return _store(
        session, staged, scan, fmt, user=user, original_name=original_name, dose_mgy=dose_mgy,
        override_reason=override_reason,
    )  # fmt: skip


def _check_request(
    session: ScanSession, fmt: str, dose_mgy: float | None, override_reason: str
) -> None:
    """Refuse early what would be refused after the upload was staged and validated."""
    if fmt not in ScanFormat.values:
        raise ValueError(f"fmt must be one of {ScanFormat.values}, got {fmt!r}")
    _check_budget(session, dose_mgy, override_reason)


def import_scan(
    session: ScanSession,
    upload,
    fmt: str,
    *,
    user=None,
    original_name: str = "",
    dose_mgy: float | None = None,
    geometry: Mapping[str, Any] | None = None,
    override_reason: str = "",
) -> Scan:
    """Import an uploaded file (an ``UploadedFile`` or any object with ``chunks()``).

    Parameters
    ----------
    session : ScanSession
        Where the scan belongs.
    upload : UploadedFile
        The HDF5 file, or for ``fmt="tiff"`` a zip of the TIFFs and their JSON.
    fmt : {"nxtomo", "dxchange", "tiff"}
    user : User, optional
        Who imports (recorded and audited).
    original_name : str
        The name the file had (recorded).
    dose_mgy : float, optional
        Dose the external scan delivered, booked in the ledger when given.
    geometry : mapping, optional
        ``sod_um``, ``sdd_um``, ``pixel_um`` (+ ``axis_pixel_position``) for files that
        lack it (DXchange, TIFF).
    override_reason : str
        Import even past the study's dose budget, for this reason (audited, and noted
        in the ledger entry; the caller's audit context says who and where from).
        Whether ``user`` may override is the caller's rule.

    Returns
    -------
    Scan

    Raises
    ------
    ScanFormatError
        One subclass per kind of bad input; nothing is kept.
    ImportOverBudget
        ``dose_mgy`` would take the animal past its budget at the site and no
        ``override_reason`` was given; nothing is kept.
    ImportRefused
        The session is queued or being scanned.
    """
    override_reason = override_reason.strip()
    _check_request(session, fmt, dose_mgy, override_reason)
    with _staging() as folder:
        received = folder / "received"
        _save_chunks(upload.chunks(), received)
        source = _unzip(received, folder / "stack") if fmt == ScanFormat.TIFF else received
        return _ingest(
            session, source, fmt, folder,
            user=user, original_name=original_name, dose_mgy=dose_mgy, geometry=geometry,
            override_reason=override_reason,
        )  # fmt: skip


def import_path(
    session: ScanSession,
    path: str | Path,
    fmt: str,
    *,
    user=None,
    dose_mgy: float | None = None,
    geometry: Mapping[str, Any] | None = None,
    override_reason: str = "",
) -> Scan:
    """Import a scan from a server-side path (the source is only read, never moved).

    ``path`` is the HDF5 file, or for ``fmt="tiff"`` the JSON, its folder, or a zip.
    Raises as :func:`import_scan`.
    """
    override_reason = override_reason.strip()
    _check_request(session, fmt, dose_mgy, override_reason)
    path = Path(path)
    if not path.exists():
        raise UnreadableFileError(f"{path}: no such file or folder")
    with _staging() as folder:
        if fmt == ScanFormat.TIFF:
            source = _unzip(path, folder / "stack") if zipfile.is_zipfile(path) else path
        else:
            _check_size(path.stat().st_size)
            source = folder / "received"
            shutil.copyfile(path, source)
        return _ingest(
            session, source, fmt, folder,
            user=user, original_name=path.name, dose_mgy=dose_mgy, geometry=geometry,
            override_reason=override_reason,
        )  # fmt: skip


__all__ = [
    "IMPORT_FORMATS",
    "ImportOverBudget",
    "ImportRefused",
    "ScanFormatError",
    "import_path",
    "import_scan",
]
