"""Pure rules of the use-of-results register: who records which decision, and the usage shares."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from shared.auth.principal import Role

# Finance records bonuses, supervision accountability and admonishment, the office the rest [3.7].
DECIDER_OF: dict[str, Role] = {
    "performance_bonus": Role.finance,
    "accountability": Role.supervision,
    "admonishment_talk": Role.supervision,
    "commendation": Role.perf_office,
    "promotion_input": Role.perf_office,
    "training": Role.perf_office,
    "rotation": Role.perf_office,
}


def decider_of(kind: str) -> Role:
    return DECIDER_OF[kind]


@dataclass(frozen=True)
class GradeUsage:
    grade: str
    published: int
    followed: int

    @property
    def share(self) -> Decimal:
        """Share of published results followed by at least one decision, 4 places, half-up."""
        if self.published == 0:
            return Decimal(0)
        return (Decimal(self.followed) / Decimal(self.published)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def overall(rows: Iterable[GradeUsage]) -> GradeUsage:
    rows = list(rows)
    return GradeUsage(grade="all", published=sum(r.published for r in rows), followed=sum(r.followed for r in rows))


def order_grades(rows: Iterable[GradeUsage], scale: list[str]) -> list[GradeUsage]:
    """Best grade first as the plan's scale orders them; grades outside the scale after, by name."""
    position = {g: i for i, g in enumerate(scale)}
    return sorted(rows, key=lambda r: (position.get(r.grade, len(scale)), r.grade))
