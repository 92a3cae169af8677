"""The nightly integrity check: every data file's sha256 against the record that points at it.

Files under the data root are written once and never changed (``studies/datafiles.py``),
and each record keeps its file's relative path and sha256: raw scans and their phantom
ground truth (``acquisition.Scan``), volumes (``recon.Volume``) and study exports
(``studies.StudyExport``).  The check reads every file again; a file that is missing or
whose digest differs raises a ``data-integrity`` flag on its study (one per file, see
``studies/flags.py``), with the record and the two digests in the message.  Nothing is
repaired, moved or deleted: a person decides (restore from backup, re-run the step).

Each run is stored as an :class:`~nanoscope_web.models.IntegrityCheck` with its counts
(``/api/v1/integrity-checks/``, staff only), so a run that found nothing shows too.
A flag stays open until a person acknowledges it, even when the file comes back; it is
resolved by the next check after that, and re-opened should the file go bad again.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.utils import timezone

from acquisition.models import Scan
from recon.models import Volume
from studies.datafiles import absolute, sha256_of
from studies.flags import WantedFlag, sync_flags
from studies.models import Flag, Study, StudyExport
from studies.vocabulary import JobState

from .models import IntegrityCheck

log = logging.getLogger(__name__)

INTEGRITY_KINDS = [Flag.Kind.DATA_INTEGRITY]


class FileState:
    """What the check found for one file."""

    INTACT = "intact"
    MISSING = "missing"
    ALTERED = "altered"


@dataclass(frozen=True)
class RecordedFile:
    """One file a record points at: what it is, where, and the digest stored with it."""

    study_id: int
    subject: str  # "scan:12", "scan-truth:12", "volume:3", "export:5"
    label: str  # "raw scan 12", for messages
    relative_path: str
    sha256: str
    links: dict = field(default_factory=dict)  # scan_session / animal of the flag


def recorded_files() -> Iterator[RecordedFile]:
    """Every data file the database knows of, with the sha256 recorded for it."""
    scans = Scan.objects.select_related("session__animal").order_by("pk")
    for scan in scans.iterator():
        links = {"scan_session": scan.session, "animal": scan.session.animal}
        study_id = scan.session.animal.study_id
        yield RecordedFile(
            study_id, f"scan:{scan.pk}", f"raw scan {scan.pk}",
            scan.relative_path, scan.sha256, links,
        )  # fmt: skip
        if scan.truth_relative_path:
            yield RecordedFile(
                study_id, f"scan-truth:{scan.pk}", f"ground truth of scan {scan.pk}",
                scan.truth_relative_path, scan.truth_sha256, links,
            )  # fmt: skip
    volumes = Volume.objects.select_related("session__animal").order_by("pk")
    for volume in volumes.iterator():
        yield RecordedFile(
            volume.session.animal.study_id, f"volume:{volume.pk}",
            f"{volume.kind} volume {volume.pk}", volume.relative_path, volume.sha256,
            {"scan_session": volume.session, "animal": volume.session.animal},
        )  # fmt: skip
    exports = StudyExport.objects.filter(state=JobState.DONE).exclude(relative_path="")
    for export in exports.order_by("pk").iterator():
        yield RecordedFile(
            export.study_id, f"export:{export.pk}", f"study export {export.pk}",
            export.relative_path, export.sha256,
        )  # fmt: skip


def verify(record: RecordedFile) -> tuple[str, str]:
    """Hash one file and compare it with its record.

    Returns
    -------
    state : str
        :class:`FileState` value.
    found : str
        The sha256 found on disk ("" when the file is missing).
    """
    try:
        path = absolute(record.relative_path)
    except ValueError:  # a path leading out of the data root is as good as missing
        return FileState.MISSING, ""
    if not path.is_file():
        return FileState.MISSING, ""
    found = sha256_of(path)
    return (FileState.INTACT if found == record.sha256 else FileState.ALTERED), found


def _flag(record: RecordedFile, state: str, found: str) -> WantedFlag:
    if state == FileState.MISSING:
        message = f"The {record.label} file {record.relative_path} is missing."
    else:
        message = (
            f"The {record.label} file {record.relative_path} was altered: sha256 "
            f"{found[:16]}… found, {record.sha256[:16]}… recorded."
        )
    return WantedFlag(
        kind=Flag.Kind.DATA_INTEGRITY,
        severity=Flag.Severity.CRITICAL,
        subject=record.subject,
        message=message,
        links=record.links,
    )


def check_integrity() -> dict[str, int]:
    """Check every recorded file, sync the studies' ``data-integrity`` flags, record the run.

    Returns
    -------
    dict
        ``{"checked", "intact", "missing", "altered", "raised", "reopened", "resolved"}``,
        counts of files and of flag changes, plus ``"run"``: the id of the
        :class:`~nanoscope_web.models.IntegrityCheck` stored for this run.
    """
    started = timezone.now()
    counts = _check_and_flag()
    run = IntegrityCheck.objects.create(started_at=started, finished_at=timezone.now(), **counts)
    return {**counts, "run": run.pk}


def _check_and_flag() -> dict[str, int]:
    counts = dict.fromkeys(("checked", FileState.INTACT, FileState.MISSING, FileState.ALTERED), 0)
    wanted: dict[int, list[WantedFlag]] = defaultdict(list)
    for record in recorded_files():
        state, found = verify(record)
        counts["checked"] += 1
        counts[state] += 1
        if state != FileState.INTACT:
            log.error("integrity: %s (%s) is %s", record.relative_path, record.subject, state)
            wanted[record.study_id].append(_flag(record, state, found))
    flagged = Study.objects.filter(flags__kind__in=INTEGRITY_KINDS).values_list("pk", flat=True)
    synced = {"raised": 0, "reopened": 0, "resolved": 0}
    for study in Study.objects.filter(pk__in={*wanted, *flagged}).order_by("pk"):
        result = sync_flags(study, INTEGRITY_KINDS, wanted.get(study.pk, []), auto_resolve=False)
        for key, value in result.as_dict().items():
            synced[key] += value
    return {**counts, **synced}
