"""The life of an acquisition job: request, claim, scan, pause/resume/abort, sweep, re-queue.

Modules: :mod:`.requests` (what people ask), :mod:`.lease` (claim and sweep),
:mod:`.run` (the scan itself), :mod:`.specimen` (the simulator's phantom of the animal),
:mod:`.base` (shared settings, errors and dose booking).

At most once
------------
An acquisition irradiates a living animal, so a job must never scan twice, whatever the
broker does (a re-delivered or duplicated message, a retry).  The guarantee lives in the
database, not in the broker:

1. :func:`claim` moves the job ``queued → running`` with one conditional ``UPDATE``
   (``WHERE state = 'queued'``) that also writes a *lease*: the owner (host, process,
   task id) and an expiry.  Only one caller can win it; every later delivery finds the
   job no longer queued and does nothing.  No state ever leads back to ``queued``: a
   person re-queues an interrupted scan as a *new* job (:func:`requeue`).
2. While it scans, the worker renews the lease with every progress write, *conditional
   on still owning it*.  If the worker dies, the lease expires and
   :func:`sweep_expired_leases` marks the job and its session ``interrupted`` and books
   the dose of the projections already taken, in the transaction that records the
   interruption.  The count is exact up to the frame in flight: the worker records
   every projection as it lands.  A worker that finds its lease gone (it was presumed
   dead) stops at once, keeps no file, and raises the booking to the projections it
   really exposed (:func:`~.base.true_up_dose`).
3. The Celery task is not ``acks_late`` (a prefork worker acknowledges the message as
   the scan starts), but nothing relies on the broker: a message that comes again —
   a solo worker acknowledges only after the task, a broker may duplicate — finds
   its job no longer queued.

Progress, pause and abort are cooperative: the job checks its record between frames
(after every projection, and at least every :data:`CONTROL_INTERVAL_S` otherwise), so
the API only sets flags.
"""

from .base import (
    CONTROL_INTERVAL_S,
    LEASE_S,
    PAUSE_POLL_S,
    AcquisitionRefused,
    DoseBudgetExceeded,
    LeaseLost,
    Outcome,
    ScanWriter,
    book_dose,
    scan_relative_path,
    true_up_dose,
    truth_relative_path,
)
from .lease import claim, sweep_expired_leases
from .requests import abort, pause, request_acquisition, requeue, resume
from .run import execute
from .specimen import animal_seed, previous_scan_day, specimen_truth, treatment_specs

__all__ = [
    "CONTROL_INTERVAL_S",
    "LEASE_S",
    "PAUSE_POLL_S",
    "AcquisitionRefused",
    "DoseBudgetExceeded",
    "LeaseLost",
    "Outcome",
    "ScanWriter",
    "abort",
    "animal_seed",
    "book_dose",
    "claim",
    "execute",
    "pause",
    "previous_scan_day",
    "request_acquisition",
    "requeue",
    "resume",
    "scan_relative_path",
    "specimen_truth",
    "sweep_expired_leases",
    "treatment_specs",
    "true_up_dose",
    "truth_relative_path",
]
