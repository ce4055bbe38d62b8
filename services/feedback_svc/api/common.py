"""Route helpers shared by feedback_svc's routers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback_svc.db import TABLES
from shared import idempotency
from shared.auth.principal import Principal


def with_etag(response: Response, lock_version: int) -> None:
    response.headers["ETag"] = f'"{lock_version}"'


async def created_once(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    key: str | None,
    body: Any,
    create: Callable[[], Awaitable[dict[str, Any]]],
    location: str,
) -> JSONResponse:
    """A 201 made once per Idempotency-Key (a retry gets the stored answer)."""
    return await idempotency.create_once(
        session,
        TABLES,
        subject=principal.subject,
        key=key,
        fingerprint=idempotency.request_fingerprint(request.method, request.url.path, body),
        create=create,
        location=location,
    )
