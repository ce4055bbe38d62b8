"""Response pieces the appraisal routes share."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query, Response

from shared.errors import BadRequest
from shared.pagination import parse_ids

# ``?plan_ids=a,b,c`` of the batch reads (the gateway's DataLoaders), at most MAX_IDS of them.
PlanIds = Annotated[str, Query(max_length=20_000, description="Comma-separated plan ids (at most 500).")]


def with_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'


def plan_ids_of(raw: str) -> list[uuid.UUID]:
    ids = parse_ids(raw, field="plan_ids") or []
    if not ids:
        raise BadRequest("plan_ids names no plan.", errors=[{"field": "plan_ids", "message": "empty"}])
    return ids
