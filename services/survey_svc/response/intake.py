"""Set-based response intake: validated responses from concurrent requests are written together.

Each round takes everything queued and runs one statement in autocommit (atomic by itself): a
guarded ``UPDATE ... WHERE token_hash = ANY(...) AND spent IS FALSE RETURNING token_hash`` spends
the tokens, and an ``INSERT ... SELECT`` from the same arrays (``unnest``) inserts the responses
whose token that UPDATE spent (and queues them for the sealer), so a response exists exactly when
its token was spent by it. A token named twice (in one round or across rounds) is spent once: the
guarded UPDATE decides, and within a round only its first response is offered. Rounds form by
themselves: while one writes, the next fills, so a quiet service answers at once and a busy one
writes hundreds of rows per statement. One round is one round trip: no pre-ping, BEGIN or COMMIT, no ORM (measured in
``python -m bench survey``). The tokens' reads before the answers are checked go in rounds too
(``TokenLookup``): one SELECT for all submits in flight instead of one each."""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from services.survey_svc.campaign.models import RespondentToken
from services.survey_svc.response.models import Response, UnsealedResponse
from shared.db import utcnow
from shared.reads import Reader, ReadStatement
from shared.rounds import Rounds

log = logging.getLogger("govperf.survey.intake")

MAX_ROUND = 1000  # rows per statement: arrays, so no bind-parameter limit; bounds one round's latency
DEADLOCK_ATTEMPTS = 3


def qualified_table(model: Any) -> str:
    table = model.__table__
    return f'"{table.schema}"."{table.name}"'


# The response's own columns, in one array each; ``key`` is the token hash the UPDATE matches
# (stored with the response only when ``identified``: a response of an anonymous campaign keeps no
# token hash), ``identified`` also whether the moment of spending may be kept (never in anonymous
# campaigns: it would match the response). Its cell (campaign, object, group, region) comes from
# the token row the UPDATE spends: the row the response was checked against, so no array carries it.
SPEND_AND_INSERT = f"""
WITH offered AS (
    SELECT * FROM unnest(
        $1::bytea[], $2::boolean[], $3::uuid[], $4::text[], $5::integer[], $6::text[], $7::date[],
        $8::timestamptz[], $9::text[]
    ) AS o(key, identified, id, answers, duration_seconds, device_hash, received_on, received_at, content_hash)
), spent AS (
    UPDATE {qualified_table(RespondentToken)} AS t
    SET spent = true, spent_at = CASE WHEN o.identified THEN $10::timestamptz END
    FROM offered AS o
    WHERE t.token_hash = o.key AND t.spent IS FALSE
    RETURNING t.token_hash, t.campaign_id, t.object_id, t.respondent_group, t.region
), recorded AS (
    INSERT INTO {qualified_table(Response)} (
        id, campaign_id, object_id, respondent_group, region, answers, duration_seconds, device_hash,
        channel, investigator, over_quota, received_on, received_at, token_hash, content_hash
    )
    SELECT o.id, s.campaign_id, s.object_id, s.respondent_group, s.region, o.answers::jsonb,
           o.duration_seconds, o.device_hash, 'token', NULL, false, o.received_on, o.received_at,
           CASE WHEN o.identified THEN o.key END, o.content_hash
    FROM offered AS o JOIN spent AS s ON s.token_hash = o.key
), queued AS (
    INSERT INTO {qualified_table(UnsealedResponse)} (id, campaign_id, content_hash)
    SELECT o.id, s.campaign_id, o.content_hash FROM offered AS o JOIN spent AS s ON s.token_hash = o.key
)
SELECT token_hash FROM spent
"""  # noqa: S608 - only our own tables' names are interpolated


@dataclass
class PendingResponse:
    token_hash: bytes
    anonymous: bool
    row: dict[str, Any]


def round_arguments(offered: list[PendingResponse], now: dt.datetime) -> list[Any]:
    """The statement's arrays, column by column, for ``offered`` (one response per token)."""
    rows = [p.row for p in offered]
    return [
        [p.token_hash for p in offered],
        [not p.anonymous for p in offered],
        [r["id"] for r in rows],
        [json.dumps(r["answers"]) for r in rows],
        [r["duration_seconds"] for r in rows],
        [r["device_hash"] for r in rows],
        [r["received_on"] for r in rows],
        [r["received_at"] for r in rows],
        [r["content_hash"] for r in rows],
        now,
    ]


class IntakeWriter(Rounds[PendingResponse, bool]):
    """Spends tokens and inserts their responses (``SPEND_AND_INSERT``) on its own pool: one round
    at a time for single submissions, and ``write`` for a batch at once."""

    name = "survey-intake-writer"

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(max_round=MAX_ROUND)
        self._pool = pool

    async def record(self, pending: PendingResponse) -> bool:
        """True when this response was recorded, False when its token was spent already."""
        return await self.submit(pending)

    async def round(self, items: list[PendingResponse]) -> list[bool]:
        return await self.write(items)

    async def write(self, items: list[PendingResponse]) -> list[bool]:
        """One ``SPEND_AND_INSERT`` for ``items`` now, outside the queue (a batch that came whole
        from the gateway is a round already): per item, True when recorded, False when its token
        was spent already. Writes may run concurrently on the pool: the tokens are offered in hash
        order, so concurrent statements lock shared tokens in one order; a deadlock PostgreSQL
        still reports (it rolled the statement back) is written again."""
        first: dict[bytes, PendingResponse] = {}
        for pending in items:
            first.setdefault(pending.token_hash, pending)
        offered = [first[key] for key in sorted(first)]
        for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
            try:
                async with self._pool.acquire() as conn:
                    spent = await conn.fetch(SPEND_AND_INSERT, *round_arguments(offered, utcnow()))
                break
            except asyncpg.DeadlockDetectedError:
                if attempt == DEADLOCK_ATTEMPTS:
                    raise
                log.warning("intake write of %d deadlocked; writing again (attempt %d)", len(offered), attempt)
        winners = {id(first[bytes(row["token_hash"])]) for row in spent}
        return [id(pending) in winners for pending in items]


class TokenLookup(Rounds[bytes, "asyncpg.Record | None"]):
    """Reads the tokens (by hash) of concurrent submits with one statement per round: ``statement``
    selects rows with a ``token_hash`` column for the array ``token_hashes``."""

    name = "survey-token-lookup"

    def __init__(self, reader: Reader, statement: ReadStatement) -> None:
        # Reads on the shared pool, two at a time: the next round's reads need not wait for the last.
        super().__init__(max_round=MAX_ROUND, max_in_flight=2)
        self._reader, self._statement = reader, statement

    async def lookup(self, token_hash: bytes) -> asyncpg.Record | None:
        return await self.submit(token_hash)

    async def round(self, items: list[bytes]) -> list[asyncpg.Record | None]:
        rows = await self._reader.all(self._statement, token_hashes=list(set(items)))
        found = {bytes(row["token_hash"]): row for row in rows}
        return [found.get(item) for item in items]
