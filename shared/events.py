"""CloudEvents 1.0 envelope (structured JSON mode) around pydantic payloads."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.db import utcnow
from shared.ids import new_id


class CloudEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    specversion: str = Field(default="1.0", pattern=r"^1\.0$")
    id: uuid.UUID = Field(default_factory=new_id)
    source: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=3, max_length=200, pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+){2,}$")
    subject: str | None = Field(default=None, max_length=200)
    # Ordering (CloudEvents extension attributes): events of one aggregate carry increasing
    # sequences in commit order; outbox.add assigns both.
    aggregateid: str | None = Field(default=None, min_length=1, max_length=200)
    sequence: int | None = Field(default=None, ge=1)
    time: dt.datetime = Field(default_factory=utcnow)
    datacontenttype: str = "application/json"
    data: dict[str, Any]

    @property
    def nats_subject(self) -> str:
        """``indicator.framework.published`` travels on ``govperf.indicator.framework.published``."""
        return f"govperf.{self.type}"


def make_event(
    event_type: str,
    payload: BaseModel,
    *,
    source: str,
    subject: str | None = None,
    aggregate_id: str | None = None,
) -> CloudEvent:
    """``subject`` is the id of the aggregate the event is about and, unless ``aggregate_id``
    names another, its ordering key: consumers see one aggregate's events in commit order."""
    return CloudEvent(
        type=event_type,
        source=source,
        subject=subject,
        aggregateid=aggregate_id or subject,
        data=payload.model_dump(mode="json"),
    )
