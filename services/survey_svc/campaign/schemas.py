"""Campaign, token and quota I/O models."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.survey_svc.campaign.models import CampaignStatus
from services.survey_svc.questionnaire.content import Code
from shared.auth.principal import OrgPath

RespondentGroup = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
MAX_OBJECTS, MAX_CELLS = 2000, 500
STANDARD_GROUPS = ("urban_residents", "rural_residents", "enterprises", "individual_businesses")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CampaignObject(_In):
    """Whom the public rates (a government, department ...); independent of the organizer."""

    id: uuid.UUID
    name: Name
    kind: Code | None = None


class CampaignCell(_In):
    """One respondent group in one region: its share of the population and its quota."""

    respondent_group: RespondentGroup = Field(description=f"One of {', '.join(STANDARD_GROUPS)}, or custom.")
    region: Code
    population_share: float = Field(gt=0, le=1e9, description="Relative size; shares are normalized.")
    quota: int = Field(default=0, ge=0, le=1_000_000)


def _check_design(objects: list[CampaignObject] | None, cells: list[CampaignCell] | None) -> None:
    if objects is not None and len({o.id for o in objects}) != len(objects):
        raise ValueError("objects: ids must be unique")
    if cells is not None and len({(c.respondent_group, c.region) for c in cells}) != len(cells):
        raise ValueError("cells: each respondent_group x region appears once")


class CampaignCreate(_In):
    code: Code
    name: Name
    questionnaire_id: uuid.UUID
    org_unit_id: uuid.UUID
    org_path: OrgPath
    objects: list[CampaignObject] = Field(min_length=1, max_length=MAX_OBJECTS)
    cells: list[CampaignCell] = Field(min_length=1, max_length=MAX_CELLS)
    fieldwork_start: dt.date
    fieldwork_end: dt.date
    min_cell_size: int = Field(default=30, ge=1, le=100_000)
    max_weight_ratio: float = Field(default=5.0, ge=1.0, le=50.0)
    anonymous: bool = True
    cycle_label: Annotated[str, Field(max_length=64)] | None = None
    plan_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _consistent(self) -> CampaignCreate:
        _check_design(self.objects, self.cells)
        if self.fieldwork_end < self.fieldwork_start:
            raise ValueError("fieldwork_end is before fieldwork_start")
        return self


class CampaignUpdate(_In):
    """Changes to a draft campaign (omitted fields stay)."""

    name: Name | None = None
    objects: Annotated[list[CampaignObject], Field(min_length=1, max_length=MAX_OBJECTS)] | None = None
    cells: Annotated[list[CampaignCell], Field(min_length=1, max_length=MAX_CELLS)] | None = None
    fieldwork_start: dt.date | None = None
    fieldwork_end: dt.date | None = None
    min_cell_size: Annotated[int, Field(ge=1, le=100_000)] | None = None
    max_weight_ratio: Annotated[float, Field(ge=1.0, le=50.0)] | None = None
    version: Annotated[int | None, Field(ge=1, description="lock_version you last read (or If-Match)")] = None

    @model_validator(mode="after")
    def _consistent(self) -> CampaignUpdate:
        _check_design(self.objects, self.cells)
        return self


class CampaignTransition(_In):
    to: Literal["approved", "fieldwork", "closed"]


class CampaignRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str
    name: str
    questionnaire_id: uuid.UUID
    questionnaire_version: int
    org_unit_id: uuid.UUID
    org_path: str
    objects: list[CampaignObject]
    cells: list[CampaignCell]
    fieldwork_start: dt.date
    fieldwork_end: dt.date
    min_cell_size: int
    max_weight_ratio: float
    anonymous: bool
    cycle_label: str | None
    plan_id: uuid.UUID | None
    status: CampaignStatus
    analysis_version: int
    published_analysis_version: int | None
    published_at: dt.datetime | None
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    lock_version: int


class CampaignPage(BaseModel):
    items: list[CampaignRead]
    next_cursor: str | None = None


class TokenBatchCreate(_In):
    respondent_group: RespondentGroup
    region: Code
    object_id: uuid.UUID
    count: int = Field(ge=1, le=100_000)
    expires_at: dt.datetime


class QuotaAssign(_In):
    investigator: Annotated[str, Field(min_length=1, max_length=200)]
    respondent_group: RespondentGroup
    region: Code
    quota: int = Field(ge=0, le=1_000_000)


class QuotaRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    investigator: str
    respondent_group: str
    region: str
    quota: int
    used: int
    overflow: int


class QuotaList(BaseModel):
    items: list[QuotaRead]
