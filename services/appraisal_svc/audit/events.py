"""Events of the audit log (names are binding once published)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

AUDIT_ANCHORED = "appraisal.audit.anchored"


class AuditAnchored(BaseModel):
    """The chain head at a moment: a copy held elsewhere exposes a rewrite of the whole table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    head_seq: int = Field(ge=1)
    head_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    anchored_at: dt.datetime
