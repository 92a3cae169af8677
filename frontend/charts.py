"""Geometry of the pages' small SVG charts: the weight curve and the treatment timeline.

Django-free: plain numbers in, pixel coordinates out; the templates only draw what these
functions computed.  Axes use "nice" tick steps of 1, 2 or 5 × 10^k (Heckbert, "Nice
numbers for graph labels", Graphics Gems, 1990).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LinearScale:
    """Maps a data interval linearly onto a pixel interval.

    Parameters
    ----------
    lo, hi : float
        Data interval (any unit); ``hi > lo``.
    start_px, end_px : float
        Pixel positions of ``lo`` and ``hi`` (``end_px < start_px`` flips the axis, as
        for a y axis that grows upwards on screen).
    """

    lo: float
    hi: float
    start_px: float
    end_px: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lo) and math.isfinite(self.hi)) or self.hi <= self.lo:
            raise ValueError(f"LinearScale needs finite lo < hi, got lo={self.lo}, hi={self.hi}")

    def __call__(self, value: float) -> float:
        """Pixel position of ``value``."""
        fraction = (value - self.lo) / (self.hi - self.lo)
        return self.start_px + fraction * (self.end_px - self.start_px)

    def invert(self, px: float) -> float:
        """Data value at pixel position ``px``."""
        fraction = (px - self.start_px) / (self.end_px - self.start_px)
        return self.lo + fraction * (self.hi - self.lo)


def nice_step(span: float, count: int = 5) -> float:
    """The tick step (1, 2 or 5 × 10^k) nearest to ``span / count``.

    Parameters
    ----------
    span : float
        Length of the interval to label, > 0.
    count : int
        Wanted number of intervals, ≥ 1.

    Returns
    -------
    float
        The step: ``span / count`` rounded to 1, 2, 5 or 10 × 10^k with Heckbert's
        thresholds (mantissa below 1.5 → 1, below 3 → 2, below 7 → 5, else 10).
    """
    if not span > 0 or not math.isfinite(span):
        raise ValueError(f"span must be a positive finite number, got {span}")
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    mantissa = raw / magnitude
    for limit, multiple in ((1.5, 1), (3.0, 2), (7.0, 5)):
        if mantissa < limit:
            return multiple * magnitude
    return 10 * magnitude


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Multiples of :func:`nice_step` that lie within ``[lo, hi]`` (both ends included)."""
    if hi <= lo:
        raise ValueError(f"nice_ticks needs lo < hi, got lo={lo}, hi={hi}")
    step = nice_step(hi - lo, count)
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    return [round(k * step, 10) for k in range(first, last + 1)]


def padded(
    lo: float, hi: float, fraction: float = 0.08, minimum: float = 1.0
) -> tuple[float, float]:
    """``[lo, hi]`` widened by ``fraction`` of its span on each side (``minimum`` when empty)."""
    span = hi - lo
    pad = span * fraction if span > 0 else minimum / 2
    return lo - pad, hi + pad


@dataclass(frozen=True)
class Tick:
    px: float
    label: str


@dataclass(frozen=True)
class WeightPoint:
    """One weighing: its study day, grams and percent change, and where it is drawn."""

    day: int
    grams: float
    percent: float
    x: float
    y: float

    @property
    def label(self) -> str:
        """``day 21: 18.2 g (-9.0 %)``."""
        return f"day {self.day}: {self.grams:g} g ({self.percent:+.1f} %)"


@dataclass(frozen=True)
class Guide:
    """A horizontal reference line (baseline, warning, humane endpoint)."""

    y: float
    grams: float
    label: str
    kind: str


@dataclass
class WeightChart:
    """Everything an SVG weight curve needs, in pixels of a ``width × height`` canvas."""

    width: int
    height: int
    plot: tuple[float, float, float, float]  # left, top, right, bottom (px)
    points: list[WeightPoint]
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    percent_ticks: list[Tick] = field(default_factory=list)
    guides: list[Guide] = field(default_factory=list)

    @property
    def polyline(self) -> str:
        """The ``points`` attribute of the SVG polyline through the weighings."""
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


def _format(value: float) -> str:
    return f"{value:g}"


def weight_chart(
    days: Sequence[int],
    grams: Sequence[float],
    *,
    warning_pct: float | None = None,
    endpoint_pct: float | None = None,
    width: int = 640,
    height: int = 260,
) -> WeightChart:
    """Lay out a body-weight curve with the percent change from the first weighing.

    Parameters
    ----------
    days : sequence of int, shape (n,)
        Study day of each weighing, in the order measured (n ≥ 1).
    grams : sequence of float, shape (n,)
        Body weight (g) of each weighing, > 0; the first is the baseline.
    warning_pct, endpoint_pct : float, optional
        Weight loss (% of baseline) that warns and that is the humane endpoint; drawn
        as guide lines and kept inside the y range.
    width, height : int
        Canvas size (px).

    Returns
    -------
    WeightChart
        One point per weighing, axis ticks in days (bottom), grams (left) and percent
        change from baseline (right), and the guide lines.

    Raises
    ------
    ValueError
        If the sequences are empty, differ in length, or a weight is not positive.
    """
    if len(days) != len(grams):
        raise ValueError(f"days and grams differ in length ({len(days)} != {len(grams)})")
    if not days:
        raise ValueError("weight_chart needs at least one weighing")
    if any(not g > 0 for g in grams):
        raise ValueError("every weight in grams must be greater than zero")
    baseline = float(grams[0])
    left, top, right, bottom = 52.0, 14.0, width - 56.0, height - 34.0

    guides_pct = [(0.0, "baseline", "baseline")]
    if warning_pct:
        guides_pct.append((-warning_pct, f"−{_format(warning_pct)} % warning", "warning"))
    if endpoint_pct:
        guides_pct.append((-endpoint_pct, f"−{_format(endpoint_pct)} % endpoint", "endpoint"))
    guide_grams = [baseline * (1 + pct / 100) for pct, _, _ in guides_pct]

    x = LinearScale(*padded(min(days), max(days), 0.04, 2.0), left, right)
    y_lo, y_hi = padded(min([*grams, *guide_grams]), max([*grams, *guide_grams]), 0.06, 2.0)
    y = LinearScale(y_lo, y_hi, bottom, top)

    points = [
        WeightPoint(day, float(g), (float(g) - baseline) / baseline * 100, x(day), y(float(g)))
        for day, g in zip(days, grams, strict=True)
    ]
    pct_lo, pct_hi = (y_lo / baseline - 1) * 100, (y_hi / baseline - 1) * 100
    return WeightChart(
        width=width,
        height=height,
        plot=(left, top, right, bottom),
        points=points,
        x_ticks=[Tick(x(d), _format(d)) for d in nice_ticks(x.lo, x.hi, 6)],
        y_ticks=[Tick(y(g), _format(g)) for g in nice_ticks(y_lo, y_hi, 5)],
        percent_ticks=[
            Tick(y(baseline * (1 + p / 100)), f"{p:+g} %") for p in nice_ticks(pct_lo, pct_hi, 5)
        ],
        guides=[
            Guide(y(g), g, label, kind)
            for g, (_, label, kind) in zip(guide_grams, guides_pct, strict=True)
        ],
    )


@dataclass(frozen=True)
class TimelineMark:
    day: int
    x: float


@dataclass(frozen=True)
class TimelineRow:
    """One treatment (or the scan row) on the timeline: its label and its days."""

    label: str
    group: str
    group_index: int  # order of the group's first row (for a colour per group)
    y: float
    marks: list[TimelineMark]
    span: tuple[float, float] | None  # x of the first and last mark, when several


@dataclass
class Timeline:
    width: int
    height: int
    plot: tuple[float, float, float, float]
    rows: list[TimelineRow]
    x_ticks: list[Tick]
    today_x: float | None


def timeline(
    rows: Sequence[tuple[str, str, Sequence[int]]],
    *,
    today: int | None = None,
    width: int = 960,
    row_height: int = 26,
    label_width: int = 260,
) -> Timeline:
    """Lay out schedules in study days: one row per ``(label, group, days)``.

    Parameters
    ----------
    rows : sequence of (str, str, sequence of int)
        Label, group (e.g. the cohort) and the study days of each row; a row may have
        no days.
    today : int, optional
        Today's study day, drawn as a line when it falls inside the range.
    width, row_height, label_width : int
        Canvas width, height of one row and width of the label column (px).

    Returns
    -------
    Timeline
        Rows with the x of every day, ticks in study days, and today's x (or None).
    """
    if not rows:
        raise ValueError("timeline needs at least one row")
    all_days = [d for _, _, days in rows for d in days]
    lo = min([0, *all_days])
    hi = max([lo + 7, *all_days])
    left, top, right = float(label_width), 8.0, width - 16.0
    bottom = top + row_height * len(rows)
    x = LinearScale(*padded(lo, hi, 0.02, 2.0), left, right)
    laid_out = []
    groups: dict[str, int] = {}
    for index, (label, group, days) in enumerate(rows):
        marks = [TimelineMark(d, x(d)) for d in sorted(days)]
        span = (marks[0].x, marks[-1].x) if len(marks) > 1 else None
        group_index = groups.setdefault(group, len(groups))
        y = top + row_height * (index + 0.5)
        laid_out.append(TimelineRow(label, group, group_index, y, marks, span))
    today_x = x(today) if today is not None and x.lo <= today <= x.hi else None
    return Timeline(
        width=width,
        height=int(bottom + 26),
        plot=(left, top, right, bottom),
        rows=laid_out,
        x_ticks=[Tick(x(d), _format(d)) for d in nice_ticks(x.lo, x.hi, 10)],
        today_x=today_x,
    )
