"""Questionnaire I/O models."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from services.survey_svc.questionnaire.content import Code, QuestionnaireContent
from services.survey_svc.questionnaire.models import QuestionnaireStatus
from shared.auth.principal import OrgPath


class QuestionnaireCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Code
    org_unit_id: uuid.UUID
    org_path: OrgPath
    content: QuestionnaireContent


class QuestionnaireUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: QuestionnaireContent
    version: Annotated[int | None, Field(ge=1, description="lock_version you last read (or If-Match)")] = None


class QuestionnaireRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    lineage_id: uuid.UUID
    version: int
    code: str
    org_unit_id: uuid.UUID
    org_path: str
    status: QuestionnaireStatus
    content: QuestionnaireContent
    content_hash: str | None
    previous_version_id: uuid.UUID | None
    published_at: dt.datetime | None
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    lock_version: int


class QuestionnairePage(BaseModel):
    items: list[QuestionnaireRead]
    next_cursor: str | None = None
