"""Keyset pagination over UUIDv7 ids (time ordered) with an opaque cursor."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from shared.errors import BadRequest

DEFAULT_LIMIT, MAX_LIMIT, MAX_IDS = 50, 500, 500
T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int
    cursor: uuid.UUID | None


def encode_cursor(last_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(last_id.bytes).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return uuid.UUID(bytes=raw)
    except (binascii.Error, ValueError):
        raise BadRequest(
            "The cursor is not valid.", errors=[{"field": "cursor", "message": "not a cursor from this API"}]
        ) from None


# async: a sync dependency would send every list request through the thread pool.
async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=decode_cursor(cursor) if cursor else None)


def parse_ids(ids: str | None, *, field: str = "ids", max_ids: int = MAX_IDS) -> list[uuid.UUID] | None:
    """``?ids=a,b,c`` for batch reads (the gateway's DataLoaders)."""
    if ids is None:
        return None
    parts = [p for p in ids.split(",") if p.strip()]
    if len(parts) > max_ids:
        raise BadRequest(f"At most {max_ids} ids per request.", errors=[{"field": field, "message": "too many"}])
    try:
        return [uuid.UUID(p.strip()) for p in parts]
    except ValueError:
        raise BadRequest(f"{field} must be UUIDs.", errors=[{"field": field, "message": "not a UUID"}]) from None


def next_page(rows: list[T], params: PageParams, id_of: Callable[[T], uuid.UUID]) -> tuple[list[T], str | None]:
    """Rows fetched with ``limit + 1`` in id order -> the page and the cursor of the next (None on the last)."""
    has_more = len(rows) > params.limit
    rows = rows[: params.limit]
    return rows, encode_cursor(id_of(rows[-1])) if has_more and rows else None


async def paginate(
    session: AsyncSession, stmt: Select[Any], id_column: InstrumentedAttribute[uuid.UUID], params: PageParams
) -> tuple[list[Any], str | None]:
    """Rows after the cursor in id order, and the cursor of the next page (None on the last)."""
    if params.cursor is not None:
        stmt = stmt.where(id_column > params.cursor)
    rows = list((await session.scalars(stmt.order_by(id_column).limit(params.limit + 1))).all())
    has_more = len(rows) > params.limit
    rows = rows[: params.limit]
    return rows, encode_cursor(getattr(rows[-1], id_column.key)) if has_more and rows else None
