"""Events of the plan aggregate (names are binding once published)."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

PLAN_OPENED = "appraisal.plan.opened"


class PlanOpened(BaseModel):
    """Data collection started: survey_svc targets its campaigns, feedback_svc prepares cases."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    plan_id: uuid.UUID
    name: str
    cycle_id: uuid.UUID
    cycle_kind: str
    cycle_label: str
    framework_id: uuid.UUID
    framework_hash: str
    owner_unit_id: uuid.UUID
    owner_org_path: str
    object_ids: list[uuid.UUID] = Field(max_length=20_000)
    submission_deadline: dt.datetime
    verification_deadline: dt.datetime
    opened_at: dt.datetime
