"""``/metrics``: the Prometheus text format, queue depths, job states and durations, flags."""

from __future__ import annotations

import datetime as dt
import math
import re

import pytest
from celery import Celery
from django.utils import timezone

from nanoscope_web import metrics
from studies import models as m
from studies.jobs import TrackedJob
from studies.schedules import install_schedules

SERIES = re.compile(r"^(?P<series>[a-z_]+(?:\{.*\})?) (?P<value>\S+)$")


def parse(text: str) -> dict[str, float]:
    """``{'name{labels}': value}`` of every sample line; fails on a malformed line."""
    samples = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-z_]+ \S", line), line
            continue
        match = SERIES.match(line)
        assert match, f"malformed sample line: {line!r}"
        samples[match["series"]] = float(match["value"])
    return samples


# --- the text format ------------------------------------------------------------------


def test_label_values_and_help_are_escaped():
    metric = metrics.Metric("x_total", "counter", "a \\ b\nc")
    metric.add(3, path='C:\\dir "q"\nnext')
    assert metrics.render([metric]) == (
        "# HELP x_total a \\\\ b\\nc\n"
        "# TYPE x_total counter\n"
        'x_total{path="C:\\\\dir \\"q\\"\\nnext"} 3\n'
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [(3.0, "3"), (0.25, "0.25"), (math.inf, "+Inf"), (-math.inf, "-Inf"), (math.nan, "NaN")],
)
def test_values_are_written_as_prometheus_reads_them(value, text):
    assert metrics.format_value(value) == text


# --- queue depths -----------------------------------------------------------------------


def send(app: Celery, queue: str, n: int) -> None:
    for _ in range(n):
        app.send_task("nanoscope_web.tasks.health_ping", args=[queue, "x"], queue=queue)


def test_file_system_broker_queue_depths(tmp_path):
    folder = str(tmp_path / "queue")
    (tmp_path / "queue").mkdir()
    app = Celery("fs", broker="filesystem://")
    app.conf.broker_transport_options = {"data_folder_in": folder, "data_folder_out": folder}
    send(app, "cpu", 2)
    send(app, "gpu", 1)
    samples = parse(metrics.render(metrics.queue_metrics(app, ["cpu", "gpu", "default"])))
    assert samples['nanoscope_queue_messages{queue="cpu"}'] == 2
    assert samples['nanoscope_queue_messages{queue="gpu"}'] == 1
    assert samples['nanoscope_queue_messages{queue="default"}'] == 0
    assert samples["nanoscope_broker_up"] == 1


@pytest.mark.integration
def test_redis_queue_depths_are_list_lengths(redis_url):
    app = Celery("redis-metrics", broker=redis_url.rsplit("/", 1)[0] + "/6")
    with app.connection_for_write() as conn:
        conn.default_channel.client.flushdb()
    send(app, "instrument", 3)
    samples = parse(metrics.render(metrics.queue_metrics(app, ["instrument", "cpu"])))
    assert samples['nanoscope_queue_messages{queue="instrument"}'] == 3
    assert samples['nanoscope_queue_messages{queue="cpu"}'] == 0
    with app.connection_for_write() as conn:
        assert conn.default_channel.client.llen("instrument") == 3  # what the metric counts


def test_unreachable_broker_reads_as_down():
    from tests.servers import free_port

    app = Celery("down", broker=f"redis://127.0.0.1:{free_port()}/0")
    samples = parse(metrics.render(metrics.queue_metrics(app, ["default"])))
    assert samples == {"nanoscope_broker_up": 0}


# --- jobs, flags, schedules ---------------------------------------------------------------


def test_every_concrete_tracked_job_model_is_found():
    def concrete(cls):
        for sub in cls.__subclasses__():
            yield from ([] if sub._meta.abstract else [sub])
            yield from concrete(sub)

    found = metrics.tracked_job_models()
    assert m.StudyExport in found
    assert set(found) == {cls for cls in concrete(TrackedJob) if not cls._meta.proxy}


NOW = timezone.make_aware(dt.datetime(2026, 3, 1, 12, 0))


def export(world, state, run_s=None, heartbeat_age_s=None):
    job = m.StudyExport.objects.create(study=world.study, state=state)
    fields = {}
    if run_s is not None:
        fields |= {"started_at": NOW, "finished_at": NOW + dt.timedelta(seconds=run_s)}
    if heartbeat_age_s is not None:
        fields |= {"started_at": NOW, "heartbeat_at": NOW - dt.timedelta(seconds=heartbeat_age_s)}
    m.StudyExport.objects.filter(pk=job.pk).update(**fields)


@pytest.mark.django_db
def test_job_counts_durations_failures_and_heartbeat_age(world):
    export(world, "done", run_s=2)
    export(world, "done", run_s=100)
    export(world, "failed", run_s=10)
    export(world, "running", heartbeat_age_s=30)
    export(world, "queued")
    samples = parse(metrics.render(metrics.job_metrics(now=NOW)))
    label = 'model="studies.studyexport"'
    for state, n in [("done", 2), ("failed", 1), ("running", 1), ("queued", 1), ("cancelled", 0)]:
        assert samples[f'nanoscope_jobs{{{label},state="{state}"}}'] == n, state
    done = f'{label},state="done"'
    buckets = {
        le: samples[f'nanoscope_job_duration_seconds_bucket{{{done},le="{le}"}}']
        for le in ["1", "5", "60", "300", "+Inf"]
    }
    assert buckets == {"1": 0, "5": 1, "60": 1, "300": 2, "+Inf": 2}
    assert samples[f"nanoscope_job_duration_seconds_sum{{{done}}}"] == pytest.approx(102.0)
    assert samples[f"nanoscope_job_duration_seconds_count{{{done}}}"] == 2
    failed = f'{label},state="failed"'
    assert samples[f'nanoscope_job_duration_seconds_bucket{{{failed},le="15"}}'] == 1
    assert samples[f'nanoscope_job_duration_seconds_bucket{{{failed},le="5"}}'] == 0
    assert samples[f"nanoscope_job_failures_total{{{label}}}"] == 1
    assert samples[f"nanoscope_job_heartbeat_age_seconds{{{label}}}"] == pytest.approx(30.0)


@pytest.mark.django_db
def test_open_flags_and_periodic_tasks(world):
    common = {"study": world.study, "animal": world.animal, "message": "m"}
    m.Flag.objects.create(kind="humane-endpoint", severity="critical", subject="a:1", **common)
    m.Flag.objects.create(kind="dose-overdue", severity="warning", subject="a:2", **common)
    m.Flag.objects.create(
        kind="dose-overdue", severity="warning", subject="a:3", acknowledged_at=NOW, **common
    )
    install_schedules()
    samples = parse(metrics.render([*metrics.flag_metrics(), *metrics.schedule_metrics()]))
    assert samples['nanoscope_flags_open{kind="humane-endpoint",severity="critical"}'] == 1
    assert samples['nanoscope_flags_open{kind="dose-overdue",severity="warning"}'] == 1
    assert samples['nanoscope_periodic_task_runs_total{name="nanoscope: welfare"}'] == 0
    last_run = 'nanoscope_periodic_task_last_run_timestamp_seconds{name="nanoscope: welfare"}'
    assert samples[last_run] == 0


# --- the endpoint -----------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_endpoint_serves_the_text_format(client, world):
    export(world, "failed", run_s=1)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = parse(response.content.decode())
    assert samples['nanoscope_job_failures_total{model="studies.studyexport"}'] == 1
    assert "nanoscope_broker_up" in samples


@pytest.mark.django_db
def test_metrics_token_is_required_when_set(client, settings):
    settings.NANOSCOPE_METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    ok = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert ok.status_code == 200
