"""Calendar and threshold arithmetic of the scheduled checks (no Django, no I/O).

The periodic jobs (``dosing_due.py``, ``welfare.py``, ``scan_plans.py``) load records,
call these functions and store what they decide; tests check the functions directly.
Days are whole calendar days (study days or ``datetime.date``), weights in grams.
"""

from __future__ import annotations

import datetime as dt
import enum


class VisitTiming(enum.StrEnum):
    """Where today falls relative to a planned scan and its ± window."""

    UPCOMING = "upcoming"  #: before the window opens
    IN_WINDOW = "in-window"  #: inside the window, on or before the planned day
    OVERDUE = "overdue"  #: after the planned day, the window still open
    MISSED = "missed"  #: after the window closed


class WelfareLevel(enum.StrEnum):
    """Weight-loss classification against a study's thresholds."""

    OK = "ok"
    WARNING = "warning"
    HUMANE_ENDPOINT = "humane-endpoint"


def visit_days(start_day: int, interval_days: int, duration_weeks: int) -> list[int]:
    """Study days of a longitudinal plan's scans.

    Parameters
    ----------
    start_day : int
        Study day of the first (baseline) scan.
    interval_days : int
        Days between scans, ≥ 1.
    duration_weeks : int
        Weeks the plan runs after the first scan, ≥ 0; the last scan falls on or
        before ``start_day + 7 * duration_weeks``.

    Returns
    -------
    list of int
        ``start_day, start_day + interval_days, …`` — ``7 * duration_weeks //
        interval_days + 1`` days.

    Raises
    ------
    ValueError
        If ``interval_days`` < 1 or ``duration_weeks`` < 0.

    Examples
    --------
    >>> visit_days(0, 7, 4)
    [0, 7, 14, 21, 28]
    """
    if interval_days < 1:
        raise ValueError(f"interval_days must be at least 1, got {interval_days}")
    if duration_weeks < 0:
        raise ValueError(f"duration_weeks must not be negative, got {duration_weeks}")
    end = start_day + 7 * duration_weeks
    return list(range(start_day, end + 1, interval_days))


def visit_timing(planned: dt.date, today: dt.date, window_days: int) -> VisitTiming:
    """Classify ``today`` against a scan planned on ``planned`` with a ± ``window_days`` window.

    Parameters
    ----------
    planned : datetime.date
        The planned day of the scan.
    today : datetime.date
        The day to classify.
    window_days : int
        Half-width of the on-time window in days, ≥ 0.

    Returns
    -------
    VisitTiming
        ``UPCOMING`` before ``planned - window_days``; ``IN_WINDOW`` from then through
        ``planned``; ``OVERDUE`` after ``planned`` through ``planned + window_days``;
        ``MISSED`` afterwards.

    Raises
    ------
    ValueError
        If ``window_days`` is negative.
    """
    if window_days < 0:
        raise ValueError(f"window_days must not be negative, got {window_days}")
    offset = (today - planned).days
    if offset < -window_days:
        return VisitTiming.UPCOMING
    if offset <= 0:
        return VisitTiming.IN_WINDOW
    if offset <= window_days:
        return VisitTiming.OVERDUE
    return VisitTiming.MISSED


def weight_loss_pct(baseline_g: float, current_g: float) -> float:
    """Weight lost since baseline, in percent of the baseline (negative for a gain).

    Parameters
    ----------
    baseline_g : float
        The animal's baseline body weight (g), > 0.
    current_g : float
        Its latest body weight (g), > 0.

    Returns
    -------
    float
        ``(baseline_g - current_g) / baseline_g * 100``.

    Raises
    ------
    ValueError
        If either weight is not positive.
    """
    if baseline_g <= 0:
        raise ValueError(f"baseline_g must be positive, got {baseline_g}")
    if current_g <= 0:
        raise ValueError(f"current_g must be positive, got {current_g}")
    return (baseline_g - current_g) / baseline_g * 100.0


def welfare_level(loss_pct: float, warning_pct: float, endpoint_pct: float) -> WelfareLevel:
    """Classify a weight loss against the warning and humane-endpoint thresholds.

    Parameters
    ----------
    loss_pct : float
        Weight loss from baseline (%), as from :func:`weight_loss_pct`.
    warning_pct, endpoint_pct : float
        Thresholds (%), ``0 < warning_pct <= endpoint_pct``; a loss equal to a
        threshold reaches it.

    Returns
    -------
    WelfareLevel

    Raises
    ------
    ValueError
        If the thresholds are not positive or the warning exceeds the endpoint.
    """
    if warning_pct <= 0 or endpoint_pct <= 0:
        raise ValueError(
            f"warning_pct and endpoint_pct must be positive, got {warning_pct}, {endpoint_pct}"
        )
    if warning_pct > endpoint_pct:
        raise ValueError(
            f"warning_pct ({warning_pct}) must not exceed endpoint_pct ({endpoint_pct})"
        )
    if loss_pct >= endpoint_pct:
        return WelfareLevel.HUMANE_ENDPOINT
    if loss_pct >= warning_pct:
        return WelfareLevel.WARNING
    return WelfareLevel.OK
