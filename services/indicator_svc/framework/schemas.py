"""API models of the framework aggregate (content models live in content.py)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.indicator_svc.framework.content import (
    BalancePolicy,
    Code,
    IndicatorSpec,
    Name,
    Text4000,
    TotalPoints,
)
from services.indicator_svc.framework.logic import FrameworkProblem
from services.indicator_svc.framework.models import FrameworkStatus
from shared.auth.principal import OrgPath
from shared.pagination import Page


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


Version = Annotated[int, Field(ge=1, le=2_000_000_000)]


class FrameworkCreate(_Input):
    code: Code
    name: Name
    description: Text4000 = None
    org_unit_id: uuid.UUID
    org_path: OrgPath
    total_points: TotalPoints = Decimal(100)
    policy: BalancePolicy = BalancePolicy()


class FrameworkUpdate(_Input):
    """Only the fields given change; ``version`` (or If-Match) guards against lost updates."""

    name: Name | None = None
    description: Text4000 = None
    total_points: TotalPoints | None = None
    policy: BalancePolicy | None = None
    version: Version | None = None


class FrameworkDerive(_Input):
    """A local draft derived from a published template of the level above [3.4]."""

    code: Code
    name: Name
    org_unit_id: uuid.UUID
    org_path: OrgPath


class FrameworkPublish(_Input):
    override_reason: Annotated[str, Field(min_length=10, max_length=2000)] | None = None
    version: Version | None = None


class FrameworkRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    lineage_id: uuid.UUID
    version: int
    code: str
    name: str
    description: str | None
    org_unit_id: uuid.UUID
    org_path: str
    status: FrameworkStatus
    total_points: TotalPoints
    policy: BalancePolicy
    derived_from_id: uuid.UUID | None
    previous_version_id: uuid.UUID | None
    content_hash: str | None
    published_at: dt.datetime | None
    published_by: str | None
    override_reason: str | None
    retired_at: dt.datetime | None
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    lock_version: int


class FrameworkPage(Page[FrameworkRead]):
    """One page of frameworks; pass next_cursor back as ?cursor= for the next."""


class IndicatorRead(IndicatorSpec):
    model_config = ConfigDict(extra="ignore", frozen=True, from_attributes=True)

    id: uuid.UUID
    framework_id: uuid.UUID
    position: int
    level: int


class IndicatorList(BaseModel):
    items: list[IndicatorRead]


class IndicatorWrite(IndicatorSpec):
    """An indicator as written through the API; ``version`` guards the framework."""

    version: Version | None = None


class ValidationReport(BaseModel):
    valid: bool
    problems: list[FrameworkProblem]


ExportFormat = Literal["json", "yaml", "xlsx"]
