"""Welfare: weight loss from baseline against the study's thresholds, raised as flags.

Each living animal's latest body weight is compared with its baseline (its first
recorded weight).  A loss of at least ``Study.weight_loss_warning_pct`` (15 % by
default) raises a ``weight-loss-warning`` flag; at least
``Study.weight_loss_endpoint_pct`` (20 %) raises a critical ``humane-endpoint`` flag on
the animal.  Welfare flags stay open until a person acknowledges them, even if the
animal regains weight; an acknowledged flag is resolved once the loss is back under
its threshold, and re-opened if it crosses it again.  A re-run never duplicates them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .flags import WantedFlag, checked_studies, sync_flags
from .models import Animal, BodyWeight, Flag, Study
from .scheduling import WelfareLevel, weight_loss_pct, welfare_level
from .vocabulary import AnimalStatus

WELFARE_KINDS = [Flag.Kind.WEIGHT_LOSS_WARNING, Flag.Kind.HUMANE_ENDPOINT]


@dataclass(frozen=True)
class WeightLoss:
    """An animal's baseline and latest weight (g) and the loss between them (%)."""

    animal: Animal
    baseline: BodyWeight
    latest: BodyWeight
    loss_pct: float


def weight_losses(study: Study) -> list[WeightLoss]:
    """Baseline-to-latest weight loss of each living animal of ``study`` with a weight."""
    weights = (
        BodyWeight.objects.filter(animal__study=study, animal__status=AnimalStatus.ALIVE)
        .select_related("animal__study")
        .order_by("animal_id", "measured_on", "id")
    )
    first: dict[int, BodyWeight] = {}
    last: dict[int, BodyWeight] = {}
    for weight in weights:
        first.setdefault(weight.animal_id, weight)
        last[weight.animal_id] = weight
    return [
        WeightLoss(
            animal=first[key].animal,
            baseline=first[key],
            latest=last[key],
            loss_pct=weight_loss_pct(float(first[key].grams), float(last[key].grams)),
        )
        for key in first
    ]


def _flag(study: Study, item: WeightLoss, level: WelfareLevel) -> WantedFlag:
    endpoint = level == WelfareLevel.HUMANE_ENDPOINT
    threshold = study.weight_loss_endpoint_pct if endpoint else study.weight_loss_warning_pct
    grams = f"{float(item.baseline.grams):g} g → {float(item.latest.grams):g} g"
    return WantedFlag(
        kind=Flag.Kind.HUMANE_ENDPOINT if endpoint else Flag.Kind.WEIGHT_LOSS_WARNING,
        severity=Flag.Severity.CRITICAL if endpoint else Flag.Severity.WARNING,
        subject=f"animal:{item.animal.pk}",
        message=(
            f"{item.animal} lost {item.loss_pct:.1f} % of its baseline weight ({grams} on "
            f"{item.latest.measured_on:%Y-%m-%d}); "
            f"{'humane endpoint' if endpoint else 'warning'} at {threshold:g} %."
        ),
        value=round(item.loss_pct, 2),
        links={"animal": item.animal},
    )


def check_welfare() -> dict[int, dict[str, int]]:
    """Raise welfare flags in every checked study.

    Returns ``{study_id: {"warning": n, "humane_endpoint": n, "raised": n, "reopened": n,
    "resolved": n}}`` where ``warning`` and ``humane_endpoint`` count animals at each
    level now.
    """
    summary: dict[int, dict[str, int]] = {}
    for study in checked_studies():
        wanted: list[WantedFlag] = []
        counts = {WelfareLevel.WARNING: 0, WelfareLevel.HUMANE_ENDPOINT: 0}
        for item in weight_losses(study):
            level = welfare_level(
                item.loss_pct, study.weight_loss_warning_pct, study.weight_loss_endpoint_pct
            )
            if level != WelfareLevel.OK:
                counts[level] += 1
                wanted.append(_flag(study, item, level))
        synced = sync_flags(study, WELFARE_KINDS, wanted, auto_resolve=False)
        summary[study.pk] = {
            "warning": counts[WelfareLevel.WARNING],
            "humane_endpoint": counts[WelfareLevel.HUMANE_ENDPOINT],
            **synced.as_dict(),
        }
    return summary
