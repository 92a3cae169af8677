"""An animal's treatments as plain data, and how each changes bone turnover over time.

The Django side builds one :class:`TreatmentSpec` per ``studies.Treatment`` of the
animal's cohort (same field names); the phantom's remodelling
(:mod:`~acquisition.phantom.remodel`) asks :func:`turnover_rates` for the trabecular
bone formation and resorption rates on each day.

Model
-----
Baseline (adult female C57BL/6, trabecular bone): formation = resorption =
:data:`BASELINE_RATE_PCT_PER_DAY` = 2 %/day of the bone volume (BFR/BV and BRR/BV of
1–3 %/day by in vivo micro-CT, Schulte et al., Bone 2011;48:433; Lambers et al., Bone
2011;49:1340). Each treatment multiplies the two rates by ``1 + (peak − 1)·a(t)``, with
``a(t) = (1 − exp(−(t − t_first)/onset_days))`` from the first administration, decaying
as ``exp(−(t − t_last)/offset_days)`` after the last one (never, for surgery).
Effects of several treatments multiply. Peaks (formation ×, resorption ×):

* ovariectomy: 1.25, 1.85, onset 7 d, permanent — net loss ≈ 1.2 %/day of BV, i.e.
  ≈ 22 % of trabecular BV/TV in 4 weeks and ≈ 45 % in 8 (30–50 % over 4–8 weeks in
  the proximal tibia, e.g. Klinck & Boyd, Calcif Tissue Int 2008;83:70);
* zoledronate: 0.45, 0.20, onset 2 d, offset 120 d (retained in bone; resorption
  suppressed ≈ 80 %, formation falling with it by coupling);
* alendronate: 0.6, 0.35, onset 3 d, offset 14 d;
* PTH(1-34) / teriparatide (intermittent): 1.9, 1.3, onset 5 d, offset 4 d (BV/TV
  +30 % here in 4 weeks; +30–60 % reported in mice);
* mechanical loading (any agent of kind ``loading``): 1.6, 0.85, onset 3 d, offset 7 d
  (Lambers et al. 2011, caudal vertebra loading);
* sham surgery, vehicles (saline, PBS …) and unknown agents: no effect
  (:func:`unknown_agents` lists the latter so a caller can warn).

Doses are recorded but do not scale the effects: each agent's effect is that of its
usual research dose.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "AGENT_EFFECTS",
    "BASELINE_RATE_PCT_PER_DAY",
    "AgentEffect",
    "TreatmentSpec",
    "effect_of",
    "turnover_rates",
    "unknown_agents",
]

BASELINE_RATE_PCT_PER_DAY = 2.0
"""Balanced trabecular formation and resorption rate of an untreated adult mouse (%/day)."""

_KINDS = ("drug", "vehicle", "surgery", "loading")


@dataclass(frozen=True)
class TreatmentSpec:
    """One treatment of an animal (mirrors ``studies.models.Treatment``; days are study days).

    Attributes
    ----------
    kind : str
        ``"drug"``, ``"vehicle"``, ``"surgery"`` or ``"loading"``.
    agent : str
        e.g. ``"ovariectomy"``, ``"sham"``, ``"zoledronate"``, ``"PTH(1-34)"``, ``"saline"``.
    start_day : int
        Study day of the first administration (surgery day).
    interval_days : int or None
        Days between administrations; ``None`` for a single one.
    n_administrations : int or None
        Number of administrations (with ``interval_days``).
    end_day : int or None
        Last study day (inclusive) of a repeated treatment.
    dose : float or None
        Dose value (recorded, not used by the model).
    dose_unit : str
    """

    kind: str
    agent: str
    start_day: int
    interval_days: int | None = None
    n_administrations: int | None = None
    end_day: int | None = None
    dose: float | None = None
    dose_unit: str = ""

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}, got {self.kind!r}")
        if self.interval_days is not None and self.interval_days < 1:
            raise ValueError(f"interval_days must be at least 1, got {self.interval_days}")
        if self.interval_days and self.n_administrations is None and self.end_day is None:
            raise ValueError("a repeated treatment needs n_administrations or end_day")
        if self.end_day is not None and self.end_day < self.start_day:
            raise ValueError(f"end_day {self.end_day} is before start_day {self.start_day}")

    def schedule_days(self) -> list[int]:
        """Study days of every administration (as ``Treatment.schedule_days``)."""
        if not self.interval_days:
            return [int(self.start_day)]
        days: list[int] = []
        day = int(self.start_day)
        while (self.n_administrations is None or len(days) < self.n_administrations) and (
            self.end_day is None or day <= self.end_day
        ):
            days.append(day)
            day += self.interval_days
        return days


@dataclass(frozen=True)
class AgentEffect:
    """Peak multipliers of formation and resorption and their time constants (days)."""

    formation: float
    resorption: float
    onset_days: float
    offset_days: float | None  # None: permanent (surgery)


AGENT_EFFECTS: dict[str, AgentEffect] = {
    "ovariectomy": AgentEffect(1.25, 1.85, 7.0, None),
    "zoledronate": AgentEffect(0.45, 0.20, 2.0, 120.0),
    "alendronate": AgentEffect(0.60, 0.35, 3.0, 14.0),
    "pth": AgentEffect(1.9, 1.3, 5.0, 4.0),
    "loading": AgentEffect(1.6, 0.85, 3.0, 7.0),
}
"""Effects by canonical agent name (see the module docstring for the sources)."""

_ALIASES = {
    "ovx": "ovariectomy",
    "ovariectomised": "ovariectomy",
    "ovariectomized": "ovariectomy",
    "zoledronicacid": "zoledronate",
    "zol": "zoledronate",
    "alendronicacid": "alendronate",
    "aln": "alendronate",
    "pth134": "pth",
    "teriparatide": "pth",
    "parathyroidhormone": "pth",
}
_INERT = {"sham", "saline", "vehicle", "pbs", "none", "control", "water"}


def _canonical(agent: str) -> str:
    key = re.sub(r"[^a-z0-9]", "", agent.lower())
    return _ALIASES.get(key, key)


def effect_of(treatment: TreatmentSpec) -> AgentEffect | None:
    """The modelled effect of a treatment (``None``: no effect on bone turnover)."""
    if treatment.kind == "vehicle":
        return None
    if treatment.kind == "loading":
        return AGENT_EFFECTS["loading"]
    return AGENT_EFFECTS.get(_canonical(treatment.agent))


def unknown_agents(treatments: Iterable[TreatmentSpec]) -> list[str]:
    """Agents the model does not know and treats as inert (not vehicles or shams)."""
    return [
        t.agent
        for t in treatments
        if effect_of(t) is None and t.kind != "vehicle" and _canonical(t.agent) not in _INERT
    ]


def _activity(effect: AgentEffect, treatment: TreatmentSpec, day: float) -> float:
    days = treatment.schedule_days()
    if day < days[0]:
        return 0.0
    rise = 1.0 - math.exp(-(day - days[0]) / effect.onset_days)
    # Between repeated doses the effect holds; after the last one it wanes.
    if effect.offset_days is None or day <= days[-1]:
        return rise
    return rise * math.exp(-(day - days[-1]) / effect.offset_days)


def turnover_rates(treatments: Sequence[TreatmentSpec], day: float) -> tuple[float, float]:
    """Trabecular formation and resorption rates on ``day`` (%/day of bone volume).

    Parameters
    ----------
    treatments : sequence of TreatmentSpec
    day : float
        Study day.

    Returns
    -------
    (float, float)
        ``(formation_pct_per_day, resorption_pct_per_day)``.
    """
    formation = resorption = BASELINE_RATE_PCT_PER_DAY
    for treatment in treatments:
        effect = effect_of(treatment)
        if effect is None:
            continue
        a = _activity(effect, treatment, day)
        formation *= 1.0 + (effect.formation - 1.0) * a
        resorption *= 1.0 + (effect.resorption - 1.0) * a
    return formation, resorption
