"""Builders of `appraisal.results.published` payloads for feedback tests."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from decimal import Decimal
from typing import Any

from contracts.appraisal_results import LeafResult, ObjectResult, ResultsPublished

GRADES = ("A", "B", "C", "D")
CITY = "/gd/sz"


def leaf(code: str, value: float | None, target: float, *, kind: str = "quantitative", **extra: Any) -> LeafResult:
    """A higher-better leaf worth 10 marks, earning min(value/target, 1) of them."""
    attainment = None if value is None else min(Decimal(str(value)) / Decimal(str(target)), Decimal(1))
    attainment = None if attainment is None else attainment.quantize(Decimal("0.000001"))
    marks = Decimal(0) if attainment is None else (attainment * 10).quantize(Decimal("0.000001"))
    return LeafResult(
        indicator_code=code,
        name=extra.pop("name", f"Indicator {code}"),
        kind=kind,  # type: ignore[arg-type]
        direction=extra.pop("direction", "higher_better"),
        value=None if value is None else Decimal(str(value)),
        target=Decimal(str(target)),
        attainment=attainment,
        marks=marks,
        max_marks=Decimal(10),
        missing=value is None,
        **extra,
    )


def county(
    name: str,
    *,
    leaves: list[LeafResult],
    grade: str = "B",
    rank: int = 1,
    peers: int = 3,
    vetoed: bool = False,
    object_id: uuid.UUID | None = None,
    segment: str | None = None,
) -> ObjectResult:
    return ObjectResult(
        object_id=object_id or uuid.uuid4(),
        object_kind="government",
        name=name,
        org_unit_id=uuid.uuid4(),
        org_path=f"{CITY}/{segment or name.lower()}",
        peer_group="counties",
        composite=sum((lf.marks for lf in leaves), Decimal(0)),
        grade=grade,
        rank=rank,
        peer_count=peers,
        vetoed=vetoed,
        veto_codes=["SAFETY-MAJOR"] if vetoed else [],
        leaves=leaves,
    )


def results(
    objects: list[ObjectResult],
    *,
    plan_id: uuid.UUID | None = None,
    version: int = 1,
    cycle_id: uuid.UUID | None = None,
    previous_cycle_id: uuid.UUID | None = None,
    label: str = "2026",
) -> ResultsPublished:
    return ResultsPublished(
        plan_id=plan_id or uuid.uuid4(),
        plan_name=f"City appraisal {label}",
        result_version=version,
        cycle_id=cycle_id or uuid.uuid4(),
        cycle_kind="annual",
        cycle_label=label,
        cycle_start=dt.date(2026, 1, 1),
        cycle_end=dt.date(2026, 12, 31),
        previous_cycle_id=previous_cycle_id,
        owner_org_path=CITY,
        framework_id=uuid.uuid4(),
        framework_hash="a" * 64,
        grade_scale=GRADES,
        results_hash=hashlib.sha256(f"{plan_id}{version}".encode()).hexdigest(),
        published_at=dt.datetime(2027, 2, 1, tzinfo=dt.UTC),
        object_count=len(objects),
        objects=objects,
    )


def three_counties() -> list[ObjectResult]:
    """Futian falls short on GDP growth and satisfaction; Luohu and Nanshan do well."""
    return [
        county(
            "Futian",
            leaves=[leaf("ECO-01", 3.0, 6.0, name="GDP growth"), leaf("SAT-01", 62, 80, kind="satisfaction")],
            grade="C",
            rank=3,
        ),
        county(
            "Luohu", leaves=[leaf("ECO-01", 6.5, 6.0, name="GDP growth"), leaf("SAT-01", 85, 80, kind="satisfaction")]
        ),
        county(
            "Nanshan", leaves=[leaf("ECO-01", 5.0, 6.0, name="GDP growth"), leaf("SAT-01", 78, 80, kind="satisfaction")]
        ),
    ]


async def if_match(http: Any, url: str, headers: dict[str, str]) -> dict[str, str]:
    """``headers`` plus If-Match with the ETag of a fresh read of ``url`` (updates require it)."""
    response = await http.get(url, headers=headers)
    assert response.status_code == 200, response.text
    return headers | {"If-Match": response.headers["ETag"]}
