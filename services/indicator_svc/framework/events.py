"""Events the framework aggregate publishes (names are binding once published)."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict

from services.indicator_svc.framework.content import FrameworkContent

FRAMEWORK_PUBLISHED = "indicator.framework.published"


class FrameworkPublished(BaseModel):
    """The full frozen snapshot, so consumers (appraisal plans) never call back to read it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    framework_id: uuid.UUID
    lineage_id: uuid.UUID
    version: int
    org_unit_id: uuid.UUID
    org_path: str
    derived_from_id: uuid.UUID | None
    previous_version_id: uuid.UUID | None
    content_hash: str
    published_at: dt.datetime
    published_by: str
    override_reason: str | None
    content: FrameworkContent
