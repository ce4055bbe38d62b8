"""API models of cycles."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.auth.principal import OrgPath
from shared.pagination import Page

CycleKind = Literal["monthly", "quarterly", "annual", "term"]


class CycleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: CycleKind
    label: str = Field(min_length=4, max_length=16, description="2026-07, 2026-Q3, 2026 or 2023-2027")
    starts_on: dt.date
    ends_on: dt.date
    parent_id: uuid.UUID | None = None
    org_path: OrgPath = Field(description="The org unit whose cycle this is (your scope).")


class CycleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: CycleKind
    label: str
    starts_on: dt.date
    ends_on: dt.date
    parent_id: uuid.UUID | None
    org_path: str
    created_at: dt.datetime


class CyclePage(Page[CycleRead]):
    pass
