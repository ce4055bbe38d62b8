"""The event appraisal consumes from indicator_svc, as appraisal reads it (edge validation)."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

from services.appraisal_svc.framework.logic import Snapshot

FRAMEWORK_PUBLISHED = "indicator.framework.published"


class FrameworkPublished(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    framework_id: uuid.UUID
    lineage_id: uuid.UUID
    version: int = Field(ge=1)
    org_path: str = Field(min_length=1, max_length=800)
    content_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    published_at: dt.datetime
    content: Snapshot
