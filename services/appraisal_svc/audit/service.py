"""The tamper-evident log of appraisal: every state change of plans, targets and data points
appends an entry in the same transaction; the head is anchored by event every minute it grows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services.appraisal_svc.audit.events import AUDIT_ANCHORED, AuditAnchored
from services.appraisal_svc.audit.models import AuditAnchor
from services.appraisal_svc.db import AUDIT_LOG, TABLES
from shared import hashchain
from shared.auth.principal import Principal
from shared.db import utcnow
from shared.events import make_event
from shared.messaging import outbox

SOURCE = "govperf/appraisal"


async def record(
    session: AsyncSession, principal: Principal | str, action: str, entity_type: str, entity_id: Any, payload: Any
) -> None:
    actor = principal if isinstance(principal, str) else principal.subject
    await hashchain.append(session, AUDIT_LOG, hashchain.Entry(actor, action, entity_type, str(entity_id), payload))


async def record_many(
    session: AsyncSession, principal: Principal | str, action: str, entity_type: str, items: Sequence[tuple[Any, Any]]
) -> None:
    actor = principal if isinstance(principal, str) else principal.subject
    await hashchain.append_many(session, AUDIT_LOG, hashchain.entries(actor, action, entity_type, items))


async def verify(conn: AsyncConnection) -> hashchain.Verification:
    return await hashchain.verify(conn, AUDIT_LOG)


async def anchor(session: AsyncSession) -> None:
    """Publish the head when it moved since the last anchor (run by one replica at a time)."""
    seq, digest = await hashchain.head(session, AUDIT_LOG)
    last = await session.scalar(select(AuditAnchor.head_seq).order_by(AuditAnchor.head_seq.desc()).limit(1))
    if seq == 0 or (last is not None and last >= seq):
        return
    anchored = AuditAnchor(head_seq=seq, head_hash=digest, anchored_at=utcnow())
    session.add(anchored)
    await session.flush()
    payload = AuditAnchored(head_seq=seq, head_hash=digest, anchored_at=anchored.anchored_at)
    await outbox.add(session, TABLES, make_event(AUDIT_ANCHORED, payload, source=SOURCE, subject="audit_log"))
