"""API models of joint meetings."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import ConfigDict, Field

from services.feedback_svc.schemas_common import Date, Input, Output, ShortText, Title
from shared.auth.principal import OrgPath
from shared.pagination import Page

MemberUnit = Literal["perf_office", "finance", "audit", "supervision", "legal"]


class AgendaItem(Input):
    case_id: uuid.UUID
    topic: ShortText


class Resolution(Input):
    """A resolution with an assignee and a deadline; it becomes a tracked task."""

    text: ShortText
    assignee_unit_id: uuid.UUID
    assignee_org_path: OrgPath
    deadline: Date
    case_id: uuid.UUID | None = None


class MeetingCreate(Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "org_unit_id": "0195f0a0-0000-7000-8000-000000000001",
                    "org_path": "/gd/sz",
                    "title": "2027 first joint meeting",
                    "held_on": "2027-03-05",
                    "members_present": ["perf_office", "finance", "supervision", "legal"],
                    "agenda": [
                        {"case_id": "0195f0a0-0000-7000-8000-0000000000c3", "topic": "Futian's satisfaction gap"}
                    ],
                    "resolutions": [
                        {
                            "text": "Futian publishes a service-hall improvement plan.",
                            "assignee_unit_id": "0195f0a0-0000-7000-8000-000000000002",
                            "assignee_org_path": "/gd/sz/ft",
                            "deadline": "2027-05-31",
                        }
                    ],
                }
            ]
        },
    )

    org_unit_id: uuid.UUID
    org_path: OrgPath
    title: Title
    held_on: Date
    members_present: list[MemberUnit] = Field(min_length=1, max_length=5)
    agenda: list[AgendaItem] = Field(default_factory=list, max_length=100)
    resolutions: list[Resolution] = Field(default_factory=list, max_length=100)


class MeetingRead(Output):
    id: uuid.UUID
    org_unit_id: uuid.UUID
    org_path: str
    title: str
    held_on: dt.date
    members_present: list[str]
    agenda: list[dict[str, Any]]
    resolutions: list[dict[str, Any]]
    recorded_by: str
    created_at: dt.datetime
    lock_version: int


class MeetingPage(Page[MeetingRead]):
    pass
