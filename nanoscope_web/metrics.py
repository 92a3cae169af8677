"""``/metrics``: the platform's state in the Prometheus text exposition format (0.0.4).

What a scrape returns, each computed when it is asked for (no state in the web process,
so any number of gunicorn workers and hosts agree):

- ``nanoscope_queue_messages{queue}``: messages waiting in each Celery queue — Redis
  list lengths (all priority lists) on a Redis broker, message files on the embedded
  file-system broker; both through kombu's ``queue_declare``.
- ``nanoscope_broker_up``: 1 when the broker answered.
- ``nanoscope_jobs{model,state}``: jobs by state, for every :class:`~studies.jobs.TrackedJob`
  model of every installed app (found through ``django.apps``, so later job models
  appear without changes here).
- ``nanoscope_job_duration_seconds{model,state}``: histogram of finished jobs'
  run time (``finished_at - started_at``).
- ``nanoscope_job_failures_total{model}``: jobs that failed.
- ``nanoscope_job_heartbeat_age_seconds{model}``: age of the oldest heartbeat among
  running jobs (a dead worker shows as a growing age).
- ``nanoscope_flags_open{kind,severity}``: open flags of the scheduled checks.
- ``nanoscope_periodic_task_last_run_timestamp_seconds{name}``,
  ``nanoscope_periodic_task_runs_total{name}``: when beat last sent each periodic job.

With ``NANOSCOPE_METRICS_TOKEN`` set, a scrape needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Min, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from studies.jobs import TrackedJob
from studies.vocabulary import JobState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Upper bounds (s) of the job-duration histogram buckets: a second to half a day.
DURATION_BUCKETS_S: tuple[float, ...] = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600)

FINISHED_STATES = (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


@dataclass
class Metric:
    """One metric family: name, type (gauge, counter, histogram), help and samples.

    Each sample is ``(suffix, labels, value)``; ``suffix`` is appended to the name
    (``"_bucket"``, ``"_sum"``, ``"_count"`` for histograms, ``""`` otherwise).
    """

    name: str
    kind: str
    help: str
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)

    def add(self, value: float, suffix: str = "", **labels: str) -> None:
        self.samples.append((suffix, labels, value))


def escape_label_value(value: str) -> str:
    """Escape a label value: backslash, double quote and line feed."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    """Escape a HELP text: backslash and line feed."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    """A sample value as Prometheus writes it (``+Inf``, ``-Inf``, ``NaN``, integers bare)."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def render(metrics: Iterable[Metric]) -> str:
    """The exposition text of ``metrics`` (HELP and TYPE lines, then samples)."""
    lines: list[str] = []
    for metric in metrics:
        lines.append(f"# HELP {metric.name} {escape_help(metric.help)}")
        lines.append(f"# TYPE {metric.name} {metric.kind}")
        for suffix, labels, value in metric.samples:
            label_text = ",".join(f'{k}="{escape_label_value(str(v))}"' for k, v in labels.items())
            braces = f"{{{label_text}}}" if label_text else ""
            lines.append(f"{metric.name}{suffix}{braces} {format_value(value)}")
    return "\n".join(lines) + "\n"


# --- Collectors ------------------------------------------------------------------------


def queue_metrics(app, queues: Iterable[str]) -> list[Metric]:
    """Messages waiting per queue on ``app``'s broker, and whether the broker answered."""
    depth = Metric("nanoscope_queue_messages", "gauge", "Messages waiting in a Celery queue.")
    up = Metric("nanoscope_broker_up", "gauge", "1 when the Celery broker answered the scrape.")
    try:
        with app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
            channel = connection.default_channel
            for queue in queues:
                depth.add(
                    channel.queue_declare(queue=queue, passive=False).message_count, queue=queue
                )
        up.add(1)
    except Exception:  # noqa: BLE001 — a scrape reports a broken broker, never fails
        depth.samples.clear()
        up.add(0)
    return [depth, up]


def tracked_job_models() -> list[type[TrackedJob]]:
    """Every concrete TrackedJob model of the installed apps, by label."""
    found = [model for model in apps.get_models() if issubclass(model, TrackedJob)]
    return sorted(found, key=lambda model: model._meta.label_lower)


def job_metrics(now=None) -> list[Metric]:
    """Counts by state, duration histograms, failures and heartbeat ages of all job models."""
    now = now or timezone.now()
    counts = Metric("nanoscope_jobs", "gauge", "Jobs by model and state.")
    durations = Metric(
        "nanoscope_job_duration_seconds",
        "histogram",
        "Run time of finished jobs (finished_at - started_at), by model and final state.",
    )
    failures = Metric("nanoscope_job_failures_total", "counter", "Jobs that failed, by model.")
    heartbeat = Metric(
        "nanoscope_job_heartbeat_age_seconds",
        "gauge",
        "Age of the oldest heartbeat among running jobs (0 when none runs).",
    )
    for model in tracked_job_models():
        label = model._meta.label_lower
        by_state = dict(
            model.objects.order_by()
            .values_list("state")
            .annotate(n=Count("pk"))
            .values_list("state", "n")
        )
        for state in JobState.values:
            counts.add(by_state.get(state, 0), model=label, state=state)
        failures.add(by_state.get(JobState.FAILED, 0), model=label)
        _durations(durations, model, label)
        oldest = model.objects.filter(state=JobState.RUNNING).aggregate(t=Min("heartbeat_at"))["t"]
        heartbeat.add((now - oldest).total_seconds() if oldest else 0.0, model=label)
    return [counts, durations, failures, heartbeat]


def _durations(metric: Metric, model: type[TrackedJob], label: str) -> None:
    run_time = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
    finished = model.objects.filter(started_at__isnull=False, finished_at__isnull=False).annotate(
        run_time=run_time
    )
    aggregates = {
        f"le_{i}": Count("pk", filter=Q(run_time__lte=timedelta(seconds=bound)))
        for i, bound in enumerate(DURATION_BUCKETS_S)
    }
    for state in FINISHED_STATES:
        row = finished.filter(state=state).aggregate(
            total=Count("pk"), seconds=Sum("run_time"), **aggregates
        )
        for i, bound in enumerate(DURATION_BUCKETS_S):
            metric.add(row[f"le_{i}"], "_bucket", model=label, state=state, le=format_value(bound))
        metric.add(row["total"], "_bucket", model=label, state=state, le="+Inf")
        seconds = row["seconds"].total_seconds() if row["seconds"] else 0.0
        metric.add(seconds, "_sum", model=label, state=state)
        metric.add(row["total"], "_count", model=label, state=state)


def flag_metrics() -> list[Metric]:
    """Open flags (neither resolved nor acknowledged) by kind and severity."""
    from studies.models import Flag

    metric = Metric("nanoscope_flags_open", "gauge", "Open flags of the scheduled checks.")
    rows = (
        Flag.objects.filter(resolved_at__isnull=True, acknowledged_at__isnull=True)
        .order_by()
        .values_list("kind", "severity")
        .annotate(n=Count("pk"))
    )
    found = {(kind, severity): n for kind, severity, n in rows}
    for kind in Flag.Kind.values:
        for severity in Flag.Severity.values:
            if (kind, severity) in found:
                metric.add(found[(kind, severity)], kind=kind, severity=severity)
    return [metric]


def schedule_metrics() -> list[Metric]:
    """When beat last sent each enabled periodic job, and how often it has."""
    from django_celery_beat.models import PeriodicTask

    last = Metric(
        "nanoscope_periodic_task_last_run_timestamp_seconds",
        "gauge",
        "Unix time beat last sent the periodic job (0: never).",
    )
    runs = Metric(
        "nanoscope_periodic_task_runs_total", "counter", "Times beat has sent the periodic job."
    )
    for task in PeriodicTask.objects.filter(enabled=True).order_by("name"):
        last.add(task.last_run_at.timestamp() if task.last_run_at else 0, name=task.name)
        runs.add(task.total_run_count, name=task.name)
    return [last, runs]


def collect() -> list[Metric]:
    """Every metric of the platform (the broker of the project's Celery app)."""
    from .celery import QUEUES, app

    return [*queue_metrics(app, QUEUES), *job_metrics(), *flag_metrics(), *schedule_metrics()]


def metrics(request: HttpRequest) -> HttpResponse:
    """The ``/metrics`` view; 401 without the bearer token when one is configured."""
    token = settings.NANOSCOPE_METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            return HttpResponse("metrics token required\n", status=401, content_type=CONTENT_TYPE)
    return HttpResponse(render(collect()), content_type=CONTENT_TYPE)
