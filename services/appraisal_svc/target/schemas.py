"""API models of targets."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.appraisal_svc.numbers import PlainDecimal
from shared.pagination import Page

MAX_BULK_TARGETS = 50_000
Measure = Annotated[Decimal, Field(ge=-(10**12), le=10**12, decimal_places=6, allow_inf_nan=False)]
Code = Annotated[str, Field(min_length=1, max_length=64)]
Reason = Annotated[str, Field(min_length=1, max_length=2000)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class TargetSet(_Input):
    object_id: uuid.UUID
    indicator_code: Code
    target: Measure
    baseline: Measure | None = None
    reason: Reason | None = None


class TargetAmend(_Input):
    target: Measure
    baseline: Measure | None = None
    reason: Reason


class TargetIds(_Input):
    ids: list[uuid.UUID] = Field(min_length=1, max_length=5000)


class CascadeChild(_Input):
    object_id: uuid.UUID
    share: Annotated[Decimal, Field(gt=0, le=1, decimal_places=6)] | None = None


class TargetCascade(_Input):
    """Split the target of ``from_object_id`` to objects below it: by ``share`` (summing to 1),
    ``equal``ly, or ``copy`` the same target (rates and indices, which do not add up)."""

    from_object_id: uuid.UUID
    indicator_code: Code
    mode: Literal["share", "equal", "copy"]
    children: list[CascadeChild] = Field(min_length=1, max_length=5000)
    reason: Reason | None = None

    @model_validator(mode="after")
    def _shares_match_mode(self) -> TargetCascade:
        given = [c.share is not None for c in self.children]
        if self.mode == "share":
            if not all(given):
                raise ValueError("mode share needs a share for every child")
            if sum((c.share or Decimal(0)) for c in self.children) != 1:
                raise ValueError("shares must sum to 1")
        elif any(given):
            raise ValueError(f"mode {self.mode} takes no shares")
        if len({c.object_id for c in self.children}) != len(self.children):
            raise ValueError("each child may appear once")
        return self


class TargetAmendmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    old_baseline: PlainDecimal | None
    old_target: PlainDecimal
    new_baseline: PlainDecimal | None
    new_target: PlainDecimal
    reason: str
    amended_by: str
    amended_at: dt.datetime


class TargetRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    plan_id: uuid.UUID
    object_id: uuid.UUID
    indicator_code: str
    baseline: PlainDecimal | None
    target: PlainDecimal
    reason: str | None
    status: str
    set_by: str
    set_at: dt.datetime
    confirmed_by: str | None
    confirmed_at: dt.datetime | None
    approved_by: str | None
    approved_at: dt.datetime | None
    lock_version: int
    amendments: list[TargetAmendmentRead] = []


class TargetPage(Page[TargetRead]):
    pass


class TargetBulkResult(BaseModel):
    written: int
