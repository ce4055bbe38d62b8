"""Reading a published framework snapshot: check its content hash and flatten its leaves.

The snapshot arrives as JSON; numbers of the content are Decimals spelled as strings. To recompute
indicator_svc's content hash (sha256 of the canonical JSON, Decimals normalized) the numeric fields
are typed here, everything else is kept as it came."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from contracts.scoring import ScoringRule
from shared.hashchain import canonical_json

MAX_INDICATORS = 2000


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class SnapshotIndicator(_Loose):
    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=300)
    parent_code: str | None = None
    weight: Decimal
    kind: str = "quantitative"
    direction: str = "higher_better"
    unit: str | None = None
    scoring: ScoringRule | None = None
    evaluation_subjects: list[str] = []


class SnapshotPolicy(_Loose):
    max_category_share: dict[str, Decimal] = {}


class Snapshot(_Loose):
    code: str
    name: str
    total_points: Decimal
    policy: SnapshotPolicy
    indicators: list[SnapshotIndicator] = Field(max_length=MAX_INDICATORS)


def _decimals_in_policy(policy: dict[str, Any]) -> dict[str, Any]:
    # The share fields of the balance policy are Decimals (or None) in the producer's model.
    return {k: (Decimal(v) if isinstance(v, str) and k.startswith("min_") else v) for k, v in policy.items()}


def content_hash(snapshot: Snapshot) -> str:
    document = snapshot.model_dump(mode="python")
    document["policy"] = _decimals_in_policy(document["policy"])
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()


@dataclass(frozen=True)
class Leaf:
    code: str
    metric: str
    name: str
    parent_code: str | None
    kind: str
    direction: str
    unit: str | None
    weight: Decimal
    method: str | None
    scoring: dict[str, Any] | None
    evaluation_subjects: list[str]


def leaves(snapshot: Snapshot) -> list[Leaf]:
    """Indicators without children. A leaf's metric is its code: one submitted value serves every
    plan whose framework names the same metric."""
    parents = {i.parent_code for i in snapshot.indicators if i.parent_code}
    return [
        Leaf(
            code=i.code,
            metric=i.code,
            name=i.name,
            parent_code=i.parent_code,
            kind=i.kind,
            direction=i.direction,
            unit=i.unit,
            weight=i.weight,
            method=i.scoring.method if i.scoring else None,
            scoring=i.scoring.model_dump(mode="json") if i.scoring else None,
            evaluation_subjects=list(i.evaluation_subjects),
        )
        for i in snapshot.indicators
        if i.code not in parents
    ]
