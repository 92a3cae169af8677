"""Structured logs: the task id as request id inside a task, one JSON object per line."""

from __future__ import annotations

import json
import logging

from nanoscope_web.logging import JsonFormatter, bind_task_id, unbind_task_id
from nanoscope_web.middleware import RequestIdLogFilter, current_request_id


def test_a_task_id_is_the_request_id_while_the_task_runs():
    assert current_request_id() == "-"
    bind_task_id(task_id="job-42")
    try:
        assert current_request_id() == "job-42"
    finally:
        unbind_task_id(task_id="job-42")
    assert current_request_id() == "-"


def test_unbinding_an_unknown_task_changes_nothing():
    unbind_task_id(task_id="never-bound")
    assert current_request_id() == "-"


def test_json_lines_carry_level_logger_request_id_and_exception():
    record = logging.LogRecord("nanoscope.x", logging.ERROR, __file__, 1, "%s lost", ("M01",), None)
    bind_task_id(task_id="job-7")
    try:
        RequestIdLogFilter().filter(record)
        try:
            raise ValueError("boom")
        except ValueError:
            import sys

            record.exc_info = sys.exc_info()
        line = JsonFormatter().format(record)
    finally:
        unbind_task_id(task_id="job-7")
    entry = json.loads(line)
    assert "\n" not in line
    assert entry["level"] == "ERROR" and entry["logger"] == "nanoscope.x"
    assert entry["request_id"] == "job-7" and entry["message"] == "M01 lost"
    assert entry["time"].endswith("+00:00")
    assert "ValueError: boom" in entry["exception"]
