"""The calls the graph makes to indicator_svc's REST API, with the caller's own token.

The service authorizes every call itself, so a principal sees through GraphQL exactly what the
REST API shows it. Every call is counted in ``govperf_gateway_upstream_requests_total``."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

from services.gateway.graph.errors import UNAVAILABLE, GraphError, error_for_status
from services.gateway.upstream import UpstreamAnswer, UpstreamFailure, Upstreams
from shared.errors import NotFound

log = logging.getLogger("govperf.gateway.graph")

SERVICE = "indicator"
FRAMEWORKS_PATH = "/api/v1/frameworks"
INDICATORS_PATH = "/api/v1/indicators"
# The service's caps: ``?ids=`` and ``limit`` take at most 500, ``?framework_ids=`` at most 50.
MAX_FRAMEWORK_IDS_PER_CALL = 500
MAX_FRAMEWORKS_PER_INDICATOR_CALL = 50


class _Record(BaseModel):
    # The service may add fields; the graph reads the ones it exposes.
    model_config = ConfigDict(extra="ignore", frozen=True)


class FrameworkRecord(_Record):
    id: uuid.UUID
    lineage_id: uuid.UUID
    version: int
    code: str
    name: str
    description: str | None
    org_unit_id: uuid.UUID
    org_path: str
    status: str
    total_points: Decimal
    content_hash: str | None
    published_at: dt.datetime | None
    derived_from_id: uuid.UUID | None
    previous_version_id: uuid.UUID | None


class FrameworkPageRecord(_Record):
    items: list[FrameworkRecord]
    next_cursor: str | None = None


class ScoringRecord(_Record):
    method: str


class IndicatorRecord(_Record):
    framework_id: uuid.UUID
    position: int
    code: str
    name: str
    level: int
    parent_code: str | None
    weight: Decimal
    category: str | None
    kind: str
    direction: str
    unit: str | None
    nature_tags: list[str]
    evaluation_subjects: list[str]
    data_source: str | None
    responsible_unit: str | None
    scoring: ScoringRecord | None


class IndicatorListRecord(_Record):
    items: list[IndicatorRecord]


class IndicatorApi:
    """indicator_svc seen with one caller's credentials (built per GraphQL request)."""

    def __init__(self, upstreams: Upstreams, *, forwarded_headers: dict[str, str]) -> None:
        self._upstreams = upstreams
        self._headers = forwarded_headers

    async def _get(self, path: str, params: dict[str, str | int]) -> Any:
        try:
            response = await self._upstreams.get(SERVICE, path, params=params, headers=self._headers)
        except NotFound:
            log.error("graph: no upstream configured for %s", SERVICE)
            raise GraphError(UNAVAILABLE, "The indicator service is unavailable.") from None
        except UpstreamFailure as exc:
            # The cause goes to the log; the client learns only that it may retry.
            log.warning("graph: %s unreachable: %s", SERVICE, exc)
            raise GraphError(UNAVAILABLE, "The indicator service is unavailable.") from None
        if response.status != 200:
            if response.status >= 500:
                log.warning("graph: %s answered %s", SERVICE, response.status)
            raise error_for_status(response.status, _problem_detail(response))
        return response.json()

    async def list_frameworks(
        self, *, status: str | None, code: str | None, org_path: str | None, limit: int, cursor: str | None
    ) -> FrameworkPageRecord:
        filters = {"status": status, "code": code, "org_path": org_path, "cursor": cursor}
        params: dict[str, str | int] = {"limit": limit} | {k: v for k, v in filters.items() if v is not None}
        return FrameworkPageRecord.model_validate(await self._get(FRAMEWORKS_PATH, params))

    async def frameworks_by_ids(self, ids: Sequence[uuid.UUID]) -> list[FrameworkRecord]:
        """The readable ones among ``ids`` (unreadable and unknown ids are simply absent)."""
        if len(ids) > MAX_FRAMEWORK_IDS_PER_CALL:
            raise ValueError(f"at most {MAX_FRAMEWORK_IDS_PER_CALL} ids per call")
        params: dict[str, str | int] = {"ids": ",".join(map(str, ids)), "limit": MAX_FRAMEWORK_IDS_PER_CALL}
        return FrameworkPageRecord.model_validate(await self._get(FRAMEWORKS_PATH, params)).items

    async def indicators_of(self, framework_ids: Sequence[uuid.UUID]) -> list[IndicatorRecord]:
        """Indicators of the readable ones among ``framework_ids``, in display order."""
        if len(framework_ids) > MAX_FRAMEWORKS_PER_INDICATOR_CALL:
            raise ValueError(f"at most {MAX_FRAMEWORKS_PER_INDICATOR_CALL} frameworks per call")
        params: dict[str, str | int] = {"framework_ids": ",".join(map(str, framework_ids))}
        return IndicatorListRecord.model_validate(await self._get(INDICATORS_PATH, params)).items


def _problem_detail(response: UpstreamAnswer) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    detail = body.get("detail") if isinstance(body, dict) else None
    return detail if isinstance(detail, str) else None
