"""Dead letters for operators: events a consumer gave up on (kept byte for byte) and outbox rows
the relay parked after its attempt cap. Listed, replayed or discarded by ``govperf dead-letters``
and by ``/api/v1/dead-letters`` (admin with the root scope).

Replaying a consumer's dead letter marks it ``replay_requested``; the service's consumer runner
applies it within seconds (through the inbox and the stale-version check, like any delivery) and
marks it ``replayed``, or ``open`` again with the new error. Replaying a parked outbox row makes
it due again; discarding it lets the later events of its aggregate go out.
"""

# No `from __future__ import annotations`: the routes' parameter types name the session dependency
# given to dead_letter_router, which FastAPI must resolve at runtime.
import base64
import binascii
import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth.deps import CurrentPrincipal
from shared.auth.principal import Principal, Role
from shared.errors import BadRequest, Conflict, Forbidden, NotFound
from shared.messaging.tables import MessagingTables

Kind = Literal["consumer", "outbox"]
Status = Literal["open", "replay_requested", "replayed", "discarded"]
PREVIEW_BYTES = 2000


class DeadLetterRead(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind
    id: str
    consumer: str | None
    event_id: uuid.UUID | None
    subject: str
    status: Status
    error: str | None
    attempts: int
    payload_bytes: int
    payload_preview: str  # the first bytes as text (undecodable bytes replaced); the whole stays stored
    created_at: dt.datetime
    resolved_at: dt.datetime | None


class DeadLetterPage(BaseModel):
    items: list[DeadLetterRead]
    next_cursor: str | None = None


def _encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).rstrip(b"=").decode()


def _decode_cursor(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequest(
            "The cursor is not valid.", errors=[{"field": "cursor", "message": "not a cursor from this API"}]
        ) from None


def _preview(payload: bytes) -> str:
    return payload[:PREVIEW_BYTES].decode("utf-8", "replace").replace("\x00", "\ufffd")


async def list_dead_letters(
    session: AsyncSession,
    tables: MessagingTables,
    *,
    kind: Kind = "consumer",
    status: Status | None = "open",
    limit: int = 50,
    cursor: str | None = None,
) -> DeadLetterPage:
    after = _decode_cursor(cursor) if cursor else None
    items: list[DeadLetterRead] = []
    if kind == "consumer":
        table = tables.dead_letter
        stmt = select(
            table.c.id,
            table.c.consumer,
            table.c.event_id,
            table.c.subject,
            table.c.status,
            table.c.error,
            table.c.deliveries,
            func.length(table.c.payload).label("size"),
            func.substring(table.c.payload, 1, PREVIEW_BYTES).label("head"),
            table.c.created_at,
            table.c.resolved_at,
        )
        if status is not None:
            stmt = stmt.where(table.c.status == status)
        if after is not None:
            if not after.isdigit():
                raise BadRequest("The cursor is not valid.", errors=[{"field": "cursor", "message": "wrong kind"}])
            stmt = stmt.where(table.c.id > int(after))
        rows = (await session.execute(stmt.order_by(table.c.id).limit(limit + 1))).all()
        more = len(rows) > limit
        for row in rows[:limit]:
            items.append(
                DeadLetterRead(
                    kind="consumer",
                    id=str(row.id),
                    consumer=row.consumer,
                    event_id=row.event_id,
                    subject=row.subject,
                    status=row.status,
                    error=row.error,
                    attempts=row.deliveries,
                    payload_bytes=row.size,
                    payload_preview=_preview(row.head),
                    created_at=row.created_at,
                    resolved_at=row.resolved_at,
                )
            )
    else:
        outbox = tables.outbox
        parked = select(
            outbox.c.id,
            outbox.c.subject,
            outbox.c.last_error,
            outbox.c.attempts,
            outbox.c.payload_bytes,
            func.left(func.cast(outbox.c.envelope, outbox.c.subject.type), PREVIEW_BYTES).label("head"),
            outbox.c.parked_at,
            outbox.c.published_at,
            outbox.c.discarded_at,
        ).where(outbox.c.parked_at.is_not(None))
        if status == "open":
            parked = parked.where(outbox.c.published_at.is_(None), outbox.c.discarded_at.is_(None))
        elif status == "discarded":
            parked = parked.where(outbox.c.discarded_at.is_not(None))
        elif status is not None:
            parked = parked.where(outbox.c.id.is_(None))  # parked rows are open or discarded, nothing else
        if after is not None:
            try:
                parked = parked.where(outbox.c.id > uuid.UUID(after))
            except ValueError:
                raise BadRequest(
                    "The cursor is not valid.", errors=[{"field": "cursor", "message": "wrong kind"}]
                ) from None
        parked_rows = (await session.execute(parked.order_by(outbox.c.id).limit(limit + 1))).all()
        more = len(parked_rows) > limit
        for parked_row in parked_rows[:limit]:
            items.append(
                DeadLetterRead(
                    kind="outbox",
                    id=str(parked_row.id),
                    consumer=None,
                    event_id=parked_row.id,
                    subject=parked_row.subject,
                    status="discarded" if parked_row.discarded_at is not None else "open",
                    error=parked_row.last_error,
                    attempts=parked_row.attempts,
                    payload_bytes=parked_row.payload_bytes,
                    payload_preview=parked_row.head,
                    created_at=parked_row.parked_at,
                    resolved_at=parked_row.discarded_at,
                )
            )
    next_cursor = _encode_cursor(items[-1].id) if more and items else None
    return DeadLetterPage(items=items, next_cursor=next_cursor)


def _parse_id(kind: Kind, dead_letter_id: str) -> int | uuid.UUID:
    try:
        return int(dead_letter_id) if kind == "consumer" else uuid.UUID(dead_letter_id)
    except ValueError:
        raise NotFound(f"No {kind} dead letter {dead_letter_id!r}.") from None


async def _exists(session: AsyncSession, tables: MessagingTables, kind: Kind, key: int | uuid.UUID) -> bool:
    table = tables.dead_letter if kind == "consumer" else tables.outbox
    found = await session.scalar(select(func.count()).select_from(table).where(table.c.id == key))
    return bool(found)


async def replay(session: AsyncSession, tables: MessagingTables, *, kind: Kind, dead_letter_id: str) -> None:
    """Ask for another try; 404 when there is no such dead letter, 409 when it is not open."""
    key = _parse_id(kind, dead_letter_id)
    if kind == "consumer":
        table = tables.dead_letter
        statement = update(table).where(table.c.id == key, table.c.status == "open").values(status="replay_requested")
    else:
        outbox = tables.outbox
        statement = (
            update(outbox)
            .where(
                outbox.c.id == key,
                outbox.c.parked_at.is_not(None),
                outbox.c.published_at.is_(None),
                outbox.c.discarded_at.is_(None),
            )
            .values(parked_at=None, attempts=0, next_attempt_at=func.now())
        )
    result: CursorResult[Any] = await session.execute(statement)  # type: ignore[assignment]
    if not result.rowcount:
        if not await _exists(session, tables, kind, key):
            raise NotFound(f"No {kind} dead letter {dead_letter_id}.")
        raise Conflict(f"The {kind} dead letter {dead_letter_id} is not open; only open ones can be replayed.")


async def discard(session: AsyncSession, tables: MessagingTables, *, kind: Kind, dead_letter_id: str) -> None:
    """Give up on it for good (kept until retention removes it); 404 / 409 as for replay."""
    key = _parse_id(kind, dead_letter_id)
    if kind == "consumer":
        table = tables.dead_letter
        statement = (
            update(table)
            .where(table.c.id == key, table.c.status == "open")
            .values(status="discarded", resolved_at=func.now())
        )
    else:
        outbox = tables.outbox
        statement = (
            update(outbox)
            .where(
                outbox.c.id == key,
                outbox.c.parked_at.is_not(None),
                outbox.c.published_at.is_(None),
                outbox.c.discarded_at.is_(None),
            )
            .values(discarded_at=func.now())
        )
    result: CursorResult[Any] = await session.execute(statement)  # type: ignore[assignment]
    if not result.rowcount:
        if not await _exists(session, tables, kind, key):
            raise NotFound(f"No {kind} dead letter {dead_letter_id}.")
        raise Conflict(f"The {kind} dead letter {dead_letter_id} is not open; only open ones can be discarded.")


def require_platform_admin(principal: Principal) -> Principal:
    """Dead letters hold any organisation's events: only an admin whose scope is the whole tree."""
    if Role.admin not in principal.roles or principal.org_path != "/":
        raise Forbidden("Dead letters are for platform administrators (role admin, scope /).")
    return principal


class DeadLetterAction(BaseModel):
    status: Literal["replay_requested", "due", "discarded"]


def dead_letter_router(session_dependency: Any) -> APIRouter:
    """``session_dependency`` is the service's ``DBSession`` (one transaction per request)."""
    router = APIRouter(prefix="/api/v1/dead-letters", tags=["operations"])
    DeadLetterId = Annotated[str, Path(max_length=64)]

    def tables_of(request: Request) -> MessagingTables:
        tables: MessagingTables = request.app.state.tables
        return tables

    @router.get("", response_model=DeadLetterPage)
    async def list_dead_letters_route(
        request: Request,
        session: session_dependency,
        principal: CurrentPrincipal,
        kind: Kind = "consumer",
        status: Status | None = "open",
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> DeadLetterPage:
        """Dead letters of this service: events its consumers gave up on, or parked outbox rows."""
        require_platform_admin(principal)
        return await list_dead_letters(
            session, tables_of(request), kind=kind, status=status, limit=limit, cursor=cursor
        )

    @router.post("/{kind}/{dead_letter_id}/replay", status_code=202, response_model=DeadLetterAction)
    async def replay_dead_letter_route(
        request: Request,
        session: session_dependency,
        principal: CurrentPrincipal,
        kind: Kind,
        dead_letter_id: DeadLetterId,
    ) -> DeadLetterAction:
        """Replay one dead letter (a consumer's is applied by the running service within seconds)."""
        require_platform_admin(principal)
        await replay(session, tables_of(request), kind=kind, dead_letter_id=dead_letter_id)
        return DeadLetterAction(status="replay_requested" if kind == "consumer" else "due")

    @router.post("/{kind}/{dead_letter_id}/discard", response_model=DeadLetterAction)
    async def discard_dead_letter_route(
        request: Request,
        session: session_dependency,
        principal: CurrentPrincipal,
        kind: Kind,
        dead_letter_id: DeadLetterId,
    ) -> DeadLetterAction:
        """Discard one dead letter for good."""
        require_platform_admin(principal)
        await discard(session, tables_of(request), kind=kind, dead_letter_id=dead_letter_id)
        return DeadLetterAction(status="discarded")

    return router
