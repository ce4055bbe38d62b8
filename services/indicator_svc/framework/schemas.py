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


EXAMPLE_ORG = {"org_unit_id": "0195f0a0-0000-7000-8000-000000000001", "org_path": "/gd/sz"}


class FrameworkCreate(_Input):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"code": "SZ-2027", "name": "Shenzhen 2027 appraisal", "total_points": "100", **EXAMPLE_ORG}]
        }
    )

    code: Code
    name: Name
    description: Text4000 = None
    org_unit_id: uuid.UUID
    org_path: OrgPath
    total_points: TotalPoints = Decimal(100)
    policy: BalancePolicy = BalancePolicy()


class FrameworkUpdate(_Input):
    """Only the fields given change; ``version`` (or If-Match) guards against lost updates."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"description": "2027 city appraisal"}]})

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
    model_config = ConfigDict(
        json_schema_extra={"examples": [{}, {"override_reason": "Satisfaction survey postponed by the province."}]}
    )

    override_reason: Annotated[str, Field(min_length=10, max_length=2000)] | None = None
    version: Version | None = None


class FrameworkRead(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "01a22301-260c-7001-a779-a97811753e05",
                    "lineage_id": "01a22301-260c-7001-a779-a97811753e06",
                    "version": 1,
                    "code": "SZ-2027",
                    "name": "Shenzhen 2027 appraisal",
                    "description": None,
                    **EXAMPLE_ORG,
                    "status": "published",
                    "total_points": "100",
                    "policy": {
                        "min_public_satisfaction_share": "0.15",
                        "max_category_share": {"economic": "0.40"},
                        "min_external_evaluation_share": "0.20",
                    },
                    "derived_from_id": None,
                    "previous_version_id": None,
                    "content_hash": "9a3f0c5e8b7d41e2a6c4d2f1b0e9a8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1",
                    "published_at": "2027-01-15T08:00:00Z",
                    "published_by": "sz-office",
                    "override_reason": None,
                    "retired_at": None,
                    "created_by": "sz-office",
                    "created_at": "2027-01-10T08:00:00Z",
                    "updated_at": "2027-01-15T08:00:00Z",
                    "lock_version": 5,
                }
            ]
        },
    )

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
