"""API models of org units and appraisal objects."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from services.appraisal_svc.orgunit.models import ObjectKind, UnitKind
from shared.auth.principal import OrgPath
from shared.pagination import Page

UnitCode = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
PeerGroup = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
ObjectCode = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OrgUnitCreate(_Input):
    code: UnitCode
    name: Name
    kind: UnitKind
    parent_id: uuid.UUID | None = None
    peer_group: PeerGroup | None = None


class OrgUnitUpdate(_Input):
    """Renaming the code or moving under another parent rewrites the whole subtree's paths."""

    code: UnitCode | None = None
    name: Name | None = None
    parent_id: uuid.UUID | None = None
    peer_group: PeerGroup | None = None


class OrgUnitImportRow(_Input):
    org_path: OrgPath
    name: Name
    kind: UnitKind
    peer_group: PeerGroup | None = None


class OrgUnitRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str
    name: str
    kind: UnitKind
    parent_id: uuid.UUID | None
    org_path: str
    peer_group: str
    deleted: bool
    lock_version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class OrgUnitPage(Page[OrgUnitRead]):
    pass


class OrgUnitImportResult(BaseModel):
    created: int
    items: list[OrgUnitRead]


class ObjectCreate(_Input):
    kind: ObjectKind
    org_unit_id: uuid.UUID
    code: ObjectCode | None = Field(
        default=None, description="Default for a government or department: the unit's code."
    )
    name: Name | None = Field(default=None, description="Default for a government or department: the unit's name.")
    peer_group: PeerGroup | None = None


class ObjectRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: ObjectKind
    org_unit_id: uuid.UUID
    org_path: str
    code: str
    name: str
    peer_group: str
    lock_version: int
    created_at: dt.datetime


class ObjectPage(Page[ObjectRead]):
    pass
