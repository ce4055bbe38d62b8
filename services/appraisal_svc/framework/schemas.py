"""API models of received framework versions."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict

from shared.pagination import Page


class FrameworkVersionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    lineage_id: uuid.UUID
    version: int
    code: str
    name: str
    org_path: str
    content_hash: str
    published_at: dt.datetime
    received_at: dt.datetime


class FrameworkVersionPage(Page[FrameworkVersionRead]):
    pass
