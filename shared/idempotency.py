"""Idempotency-Key support for creates: a retried request gets the first answer, not a second resource."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.errors import BadRequest, Conflict
from shared.messaging.tables import MessagingTables

MAX_KEY_LENGTH = 200


def request_fingerprint(method: str, path: str, body: Any) -> str:
    return hashlib.sha256(json.dumps([method, path, body], sort_keys=True, default=str).encode()).hexdigest()


def check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise BadRequest(
            "Idempotency-Key must be 1-200 printable characters.",
            errors=[{"field": "Idempotency-Key", "message": "invalid"}],
        )
    return key


async def replay(
    session: AsyncSession, tables: MessagingTables, *, subject: str, key: str, fingerprint: str
) -> tuple[int, Any] | None:
    """The stored (status, body) for this key, or None if it is new. Reusing a key for another request is a 409."""
    row = (
        await session.execute(
            select(tables.idempotency).where(
                tables.idempotency.c.subject == subject, tables.idempotency.c.key == check_key(key)
            )
        )
    ).first()
    if row is None:
        return None
    if row.request_hash != fingerprint:
        raise Conflict("This Idempotency-Key was used for a different request.")
    return row.status_code, row.response


async def remember(
    session: AsyncSession,
    tables: MessagingTables,
    *,
    subject: str,
    key: str,
    fingerprint: str,
    status_code: int,
    response: Any,
) -> None:
    """Stored in the same transaction as the create; a concurrent twin loses with a 409 and rolls back."""
    inserted = await session.execute(
        pg_insert(tables.idempotency)
        .values(subject=subject, key=key, request_hash=fingerprint, status_code=status_code, response=response)
        .on_conflict_do_nothing()
        .returning(tables.idempotency.c.key)
    )
    if inserted.first() is None:
        raise Conflict("A request with this Idempotency-Key is already being processed.")


async def create_once(
    session: AsyncSession,
    tables: MessagingTables,
    *,
    subject: str,
    key: str | None,
    fingerprint: str,
    create: Callable[[], Awaitable[dict[str, Any]]],
    location: str,
) -> JSONResponse:
    """A 201 for ``create()`` (its JSON body, with ``id`` and ``lock_version``), run once per
    Idempotency-Key: a retry gets the stored answer with the same ETag and Location
    (``location`` holds ``{id}``)."""

    def answer(status_code: int, body: Any, extra: dict[str, str] | None = None) -> JSONResponse:
        headers = dict(extra or {})
        if isinstance(body, dict) and {"id", "lock_version"} <= body.keys():
            headers |= {"ETag": f'"{body["lock_version"]}"', "Location": location.format(id=body["id"])}
        return JSONResponse(body, status_code=status_code, headers=headers)

    if key is not None:
        stored = await replay(session, tables, subject=subject, key=key, fingerprint=fingerprint)
        if stored is not None:
            return answer(*stored, {"Idempotent-Replayed": "true"})
    body = await create()
    if key is not None:
        await remember(
            session, tables, subject=subject, key=key, fingerprint=fingerprint, status_code=201, response=body
        )
    return answer(201, body)
