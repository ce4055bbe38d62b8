"""Response intake (token holders and investigators) into the append-only, hash-chained log.
Functions flush; the caller commits."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import LargeBinary, any_, bindparam, insert, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services.survey_svc.campaign import tokens
from services.survey_svc.campaign.models import Campaign, CampaignStatus, InvestigatorQuota, RespondentToken
from services.survey_svc.campaign.service import check_cell_and_object, get_campaign
from services.survey_svc.db import RESPONSE_CHAIN
from services.survey_svc.questionnaire import logic as answers_logic
from services.survey_svc.questionnaire.content import QuestionnaireContent
from services.survey_svc.questionnaire.service import published_content, published_content_read
from services.survey_svc.response.intake import IntakeWriter, PendingResponse, TokenLookup, qualified_table
from services.survey_svc.response.models import Response, UnsealedResponse
from services.survey_svc.response.schemas import InterviewSubmission, Receipt
from shared import hashchain
from shared.auth.principal import Principal, Role
from shared.db import utcnow
from shared.errors import AppError, Conflict, Forbidden, NotFound, Unprocessable
from shared.ids import new_id
from shared.reads import Reader, ReadStatement

log = logging.getLogger("govperf.survey.intake")


class Gone(AppError):
    status, code, title = 410, "gone", "Gone"


class InternalError(AppError):
    status, code, title = 500, "internal", "Internal error"


@dataclass(frozen=True)
class OpenToken:
    """An unspent token's cell and campaign, for the respondent page and intake."""

    token_hash: bytes
    campaign_id: uuid.UUID
    respondent_group: str
    region: str
    object_id: uuid.UUID
    object_name: str
    anonymous: bool
    questionnaire_id: uuid.UUID
    content: QuestionnaireContent


def check_open(campaign: Campaign) -> None:
    check_window(campaign.status, campaign.fieldwork_start, campaign.fieldwork_end)


def check_window(status: str, start: dt.date, end: dt.date) -> None:
    if status != CampaignStatus.fieldwork or not start <= utcnow().date() <= end:
        raise Conflict("This survey is not open for responses.")


_TOKEN_TO_OPEN_COLUMNS: list[Any] = [
    RespondentToken.spent,
    RespondentToken.expires_at,
    RespondentToken.respondent_group,
    RespondentToken.region,
    RespondentToken.object_id,
    Campaign.id.label("campaign_id"),
    Campaign.status,
    Campaign.fieldwork_start,
    Campaign.fieldwork_end,
    Campaign.anonymous,
    Campaign.questionnaire_id,
]
TOKEN_TO_OPEN = ReadStatement(
    select(*_TOKEN_TO_OPEN_COLUMNS)
    .join(Campaign, Campaign.id == RespondentToken.campaign_id)
    .where(RespondentToken.token_hash == bindparam("token_hash"))
)
CAMPAIGN_OBJECTS = ReadStatement(select(Campaign.objects).where(Campaign.id == bindparam("campaign_id")))


TOKENS_TO_OPEN = ReadStatement(
    select(RespondentToken.token_hash, *_TOKEN_TO_OPEN_COLUMNS)
    .join(Campaign, Campaign.id == RespondentToken.campaign_id)
    .where(RespondentToken.token_hash == any_(bindparam("token_hashes", type_=ARRAY(LargeBinary))))
)


def token_lookup(reader: Reader) -> TokenLookup:
    """Intake's batched token reads (``TOKEN_TO_OPEN`` for every submit of a round at once)."""
    return TokenLookup(reader, TOKENS_TO_OPEN)


async def open_token(
    reader: Reader,
    *,
    key: bytes,
    token: str,
    with_object_name: bool = False,
    lookup: TokenLookup | None = None,
) -> OpenToken:
    """The token's campaign if it may answer now: 404 unknown, 409 used or survey closed, 410 expired.
    One prepared statement without a unit of work (or a ``lookup`` round shared with concurrent
    submits): intake is the hot path, a campaign's object list can be long, and the spending itself
    is decided later by the guarded UPDATE."""
    digest = tokens.token_hash(key, token)
    row = await (lookup.lookup(digest) if lookup is not None else reader.one(TOKEN_TO_OPEN, token_hash=digest))
    return await opened_token(reader, row, digest, with_object_name=with_object_name)


async def opened_token(
    reader: Reader, row: Mapping[str, Any] | None, digest: bytes, *, with_object_name: bool = False
) -> OpenToken:
    """The token read as ``row`` (``TOKEN_TO_OPEN``'s columns, None when unknown) if it may answer now."""
    if row is None:
        raise NotFound("Unknown token.")
    if row["spent"]:
        raise Conflict("This token has been used.")
    if row["expires_at"] <= utcnow():
        raise Gone("This token has expired.")
    check_window(row["status"], row["fieldwork_start"], row["fieldwork_end"])
    name = ""
    if with_object_name:
        found = await reader.one(CAMPAIGN_OBJECTS, campaign_id=row["campaign_id"])
        objects = found["objects"] if found is not None else []
        # A reader on a test's session connection gets jsonb as text (SQLAlchemy's codec).
        objects = json.loads(objects) if isinstance(objects, str) else objects or []
        name = next((o["name"] for o in objects if o["id"] == str(row["object_id"])), "")
    return OpenToken(
        token_hash=digest,
        campaign_id=row["campaign_id"],
        respondent_group=row["respondent_group"],
        region=row["region"],
        object_id=row["object_id"],
        object_name=name,
        anonymous=row["anonymous"],
        questionnaire_id=row["questionnaire_id"],
        content=await published_content_read(reader, row["questionnaire_id"]),
    )


def checked_answers(content: QuestionnaireContent, answers: Mapping[str, Any]) -> dict[str, Any]:
    problems, clean = answers_logic.checker(content).check(answers)
    if problems:
        raise Unprocessable(f"{len(problems)} answer(s) are not valid; nothing was recorded.", errors=problems)
    return clean


def chain_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """What a response's content hash covers: every column but the hash itself."""
    token_hash = row["token_hash"]
    received_at = row["received_at"]
    return {
        "id": str(row["id"]),
        "campaign_id": str(row["campaign_id"]),
        "object_id": str(row["object_id"]),
        "respondent_group": row["respondent_group"],
        "region": row["region"],
        "answers": row["answers"],
        "duration_seconds": row["duration_seconds"],
        "device_hash": row["device_hash"],
        "channel": row["channel"],
        "investigator": row["investigator"],
        "over_quota": row["over_quota"],
        "received_on": row["received_on"].isoformat(),
        "received_at": received_at.isoformat() if received_at is not None else None,
        "token_hash": token_hash.hex() if token_hash is not None else None,
    }


# json.dumps with these arguments builds an encoder per call (a third of the call's time); the
# same encoder made once spells every record the same.
_RECORD_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_json(record: Mapping[str, Any]) -> str:
    """``hashchain.canonical_json`` of a record of JSON values (what ``chain_record`` makes of a
    row: answers parsed from JSON, everything else already a string, number or null), without its
    per-value conversion walk (a tenth of intake's CPU); anything else takes the walk."""
    try:
        return _RECORD_ENCODER.encode(record)
    except TypeError:  # a value JSON does not know (a UUID, a date): the canonical spelling decides
        return hashchain.canonical_json(record)


def content_hash(row: Mapping[str, Any]) -> str:
    return hashlib.sha256(record_json(chain_record(row)).encode()).hexdigest()


def response_row(*, anonymous: bool, **fields: Any) -> dict[str, Any]:
    """A response row with its id, receipt times and content hash."""
    now = utcnow()
    row: dict[str, Any] = {
        # Anonymous: a random id (a UUIDv7 carries its creation time), the day only, no token.
        "id": uuid.uuid4() if anonymous else new_id(),
        "received_on": now.date(),
        "received_at": None if anonymous else now,
        **fields,
    }
    if anonymous:
        row["token_hash"] = None
    row["content_hash"] = content_hash(row)
    return row


async def append_response(session: AsyncSession, *, anonymous: bool, **fields: Any) -> str:
    """Insert one response (no lock beyond its own row); the sealer chains it shortly after."""
    row = response_row(anonymous=anonymous, **fields)
    await session.execute(insert(Response).values(**row))
    await session.execute(
        insert(UnsealedResponse).values(id=row["id"], campaign_id=row["campaign_id"], content_hash=row["content_hash"])
    )
    return str(row["content_hash"])


@dataclass(frozen=True)
class PreparedResponse:
    """A checked token response, ready to be recorded."""

    opened: OpenToken
    fields: dict[str, Any]


async def prepare_token_response(
    reader: Reader,
    *,
    key: bytes,
    salt: bytes,
    token: str,
    answers: Mapping[str, Any] | None = None,
    form: Mapping[str, list[str]] | None = None,
    duration_seconds: int | None,
    device_fingerprint: str | None,
    lookup: TokenLookup | None = None,
) -> PreparedResponse:
    """Check the token and every answer (a bad response stores nothing, the token stays unspent)."""
    opened = await open_token(reader, key=key, token=token, lookup=lookup)
    given = answers if answers is not None else answers_logic.from_form(opened.content, form or {})
    return checked_response(
        opened, salt=salt, answers=given, duration_seconds=duration_seconds, device_fingerprint=device_fingerprint
    )


def checked_response(
    opened: OpenToken,
    *,
    salt: bytes,
    answers: Mapping[str, Any],
    duration_seconds: int | None,
    device_fingerprint: str | None,
) -> PreparedResponse:
    """The response to an open token once every answer is checked (Unprocessable naming each bad one)."""
    fields: dict[str, Any] = {
        "campaign_id": opened.campaign_id,
        "object_id": opened.object_id,
        "respondent_group": opened.respondent_group,
        "region": opened.region,
        "answers": checked_answers(opened.content, answers),
        "duration_seconds": duration_seconds,
        "device_hash": tokens.device_hash(salt, device_fingerprint) if device_fingerprint else None,
        "channel": "token",
        "investigator": None,
        "over_quota": False,
        "token_hash": opened.token_hash,
    }
    return PreparedResponse(opened, fields)


async def record_token_response(session: AsyncSession, prepared: PreparedResponse) -> Receipt:
    """Spend the token with a guarded UPDATE (of concurrent submits with one token exactly one
    wins) and insert the response, in the caller's transaction."""
    opened = prepared.opened
    spent = await session.execute(
        update(RespondentToken)
        .where(RespondentToken.token_hash == opened.token_hash, RespondentToken.spent.is_(False))
        .values(spent=True, spent_at=None if opened.anonymous else utcnow())
        .returning(RespondentToken.token_hash)
    )
    if spent.first() is None:
        raise Conflict("This token has been used.")
    return Receipt(receipt=await append_response(session, anonymous=opened.anonymous, **prepared.fields))


async def record_token_response_batched(writer: IntakeWriter, prepared: PreparedResponse) -> Receipt:
    """The same, set-based: in the intake writer's next round (its own transaction)."""
    opened = prepared.opened
    row = response_row(anonymous=opened.anonymous, **prepared.fields)
    if not await writer.record(PendingResponse(opened.token_hash, opened.anonymous, row)):
        raise Conflict("This token has been used.")
    return Receipt(receipt=row["content_hash"])


@dataclass(frozen=True)
class TokenResponse:
    """One JSON submission of a batch: the token, the answers as sent, and the device fingerprint
    (the submission's own or its device cookie)."""

    token: str
    answers: Mapping[str, Any]
    duration_seconds: int | None
    device_fingerprint: str | None


async def record_token_responses(
    reader: Reader, writer: IntakeWriter, *, key: bytes, salt: bytes, submissions: Sequence[TokenResponse]
) -> list[Receipt | AppError]:
    """A batch of submissions, each answered as it would be alone (a receipt, or the problem: 404,
    409, 410 or 422 with nothing stored and the token unspent), with one token read and one write
    (``IntakeWriter.write``) for all of them instead of a round trip and a queue each."""
    digests = [tokens.token_hash(key, s.token) for s in submissions]
    found = {bytes(row["token_hash"]): row for row in await reader.all(TOKENS_TO_OPEN, token_hashes=list(set(digests)))}
    outcomes: list[Receipt | AppError] = []
    pending: list[PendingResponse] = []
    pending_at: list[int] = []
    for submission, digest in zip(submissions, digests, strict=True):
        try:
            opened = await opened_token(reader, found.get(digest), digest)
            prepared = checked_response(
                opened,
                salt=salt,
                answers=submission.answers,
                duration_seconds=submission.duration_seconds,
                device_fingerprint=submission.device_fingerprint,
            )
            row = response_row(anonymous=opened.anonymous, **prepared.fields)
        except AppError as exc:
            outcomes.append(exc)
            continue
        except Exception:  # one submission's failure is its own 500, never its neighbours'
            log.exception("checking a batched submission failed")
            outcomes.append(InternalError("An unexpected error occurred."))
            continue
        pending_at.append(len(outcomes))
        pending.append(PendingResponse(opened.token_hash, opened.anonymous, row))
        outcomes.append(Receipt(receipt=row["content_hash"]))
    if not pending:
        return outcomes
    try:
        recorded: list[bool | AppError] = list(await writer.write(pending))
    except asyncpg.PostgresError:
        # A row the database refuses must not fail the others: the failed statement changed
        # nothing, so each is written again alone and only the bad one fails.
        log.exception("intake write of %d failed; writing them one by one", len(pending))
        recorded = [await _write_alone(writer, one) for one in pending]
    for at, result in zip(pending_at, recorded, strict=True):
        if isinstance(result, AppError):
            outcomes[at] = result
        elif not result:
            outcomes[at] = Conflict("This token has been used.")
    return outcomes


async def _write_alone(writer: IntakeWriter, pending: PendingResponse) -> bool | AppError:
    try:
        return (await writer.write([pending]))[0]
    except asyncpg.PostgresError:
        log.exception("intake write of one response failed")
        return InternalError("An unexpected error occurred.")


async def submit_interview(
    session: AsyncSession, *, principal: Principal, salt: bytes, campaign_id: uuid.UUID, data: InterviewSubmission
) -> Receipt:
    """An investigator's interview, counted against their quota for the cell; beyond it, the
    interview is stored and marked over quota (excluded from analysis), never dropped."""
    if not principal.has_any({Role.investigator}):
        raise Forbidden("Only investigators submit interviews.")
    campaign = await get_campaign(session, principal=principal, campaign_id=campaign_id)
    check_open(campaign)
    check_cell_and_object(campaign, data.respondent_group, data.region, data.object_id)
    clean = checked_answers(await published_content(session, campaign.questionnaire_id), data.answers)
    counted = (
        await session.execute(
            update(InvestigatorQuota)
            .where(
                InvestigatorQuota.campaign_id == campaign.id,
                InvestigatorQuota.investigator == principal.subject,
                InvestigatorQuota.respondent_group == data.respondent_group,
                InvestigatorQuota.region == data.region,
            )
            .values(used=InvestigatorQuota.used + 1)
            .returning(InvestigatorQuota.used, InvestigatorQuota.quota)
        )
    ).first()
    if counted is None:
        raise Forbidden("You have no quota in this cell of this campaign.")
    over_quota = counted.used > counted.quota
    receipt = await append_response(
        session,
        anonymous=campaign.anonymous,
        campaign_id=campaign.id,
        object_id=data.object_id,
        respondent_group=data.respondent_group,
        region=data.region,
        answers=clean,
        duration_seconds=data.duration_seconds,
        device_hash=tokens.device_hash(salt, data.device_fingerprint) if data.device_fingerprint else None,
        channel="interview",
        investigator=principal.subject,
        over_quota=over_quota,
        token_hash=None,
    )
    return Receipt(receipt=receipt, over_quota=over_quota)


MAX_SEAL_BATCH = 20_000
SEALER = "survey.seal"
# Takes a batch off the sealer's queue (rows other sealers hold are skipped), in id order.
SEAL_TAKE = f"""
WITH taken AS (
    DELETE FROM {qualified_table(UnsealedResponse)}
    WHERE id IN (
        SELECT id FROM {qualified_table(UnsealedResponse)} {{one_campaign}}
        ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED
    )
    RETURNING id, campaign_id, content_hash
)
SELECT id::text, campaign_id::text, content_hash FROM taken ORDER BY taken.id
"""  # noqa: S608 - only our own table's name and a fixed clause are interpolated


async def seal_pending(
    session: AsyncSession, campaign_id: uuid.UUID | None = None, *, limit: int = MAX_SEAL_BATCH
) -> int:
    """Append up to ``limit`` queued responses (of one campaign, or all) to their campaigns' chains,
    in random-id order within the batch, and take them off the queue in the same transaction;
    returns how many were sealed. Concurrent sealers skip each other's rows (the log's own lock
    orders their appends)."""
    one_campaign = "WHERE campaign_id = :campaign_id " if campaign_id is not None else ""
    # Ids and keys as text and in id order from the database: a UUID's str() and comparisons in
    # Python were a fifth of the sealer's CPU, which intake's event loop shares.
    taken = (
        await session.execute(
            text(SEAL_TAKE.format(one_campaign=one_campaign)),
            {"limit": limit} | ({"campaign_id": campaign_id} if campaign_id is not None else {}),
        )
    ).all()
    by_campaign: dict[str, list[hashchain.Entry]] = {}
    for entity_id, chain_key, sealed_hash in taken:
        by_campaign.setdefault(chain_key, []).append(
            hashchain.Entry(
                actor=SEALER,
                action="response.recorded",
                entity_type="response",
                entity_id=entity_id,
                payload={"campaign_id": chain_key, "content_hash": sealed_hash},
            )
        )
    for chain_key in sorted(by_campaign):  # the chains' locks in one order: concurrent sealers cannot deadlock
        await hashchain.append_many(session, RESPONSE_CHAIN, by_campaign[chain_key], chain_key=chain_key)
    return len(taken)


async def seal_round(connection: AsyncConnection, *, batch: int = MAX_SEAL_BATCH) -> None:
    """One periodic round (shared.periodic): seal until nothing is pending, a commit per ``batch``."""
    async with AsyncSession(bind=connection) as session:
        while True:
            sealed = await seal_pending(session, limit=batch)
            await session.commit()
            if sealed < batch:
                return


@dataclass(frozen=True)
class CampaignIntegrity:
    log_valid: bool
    log_entries: int
    first_broken_seq: int | None
    problem: str | None
    sealed: int
    unsealed: int
    altered: list[str]  # ids of responses whose content no longer matches their sealed hash
    missing: list[str]  # sealed responses that are gone


def sealed_content_hash(payload: str) -> str:
    """The content hash a chain entry sealed; an entry rewritten into anything else seals nothing,
    so its response is reported as altered (never a failing report)."""
    try:
        sealed = json.loads(payload)
    except ValueError:
        return ""
    found = sealed.get("content_hash") if isinstance(sealed, dict) else None
    return found if isinstance(found, str) else ""


async def check_campaign(session: AsyncSession, campaign_id: uuid.UUID) -> CampaignIntegrity:
    """The campaign's chain, then every response of the campaign against the hash the chain sealed."""
    chain_key = str(campaign_id)
    chain = await hashchain.verify(await session.connection(), RESPONSE_CHAIN, chain_key=chain_key)
    sealed_hash = {
        entity_id: sealed_content_hash(payload)
        for entity_id, payload in (
            await session.execute(
                select(RESPONSE_CHAIN.c.entity_id, RESPONSE_CHAIN.c.payload).where(
                    RESPONSE_CHAIN.c.chain_key == chain_key, RESPONSE_CHAIN.c.action == "response.recorded"
                )
            )
        ).all()
    }
    altered, unsealed, seen = [], 0, set()
    result = await session.stream(
        select(Response.__table__).where(Response.campaign_id == campaign_id).execution_options(yield_per=5000)
    )
    async for row in result.mappings():
        key = str(row["id"])
        seen.add(key)
        sealed = sealed_hash.get(key)
        if sealed is None:
            unsealed += 1
        elif content_hash(dict(row)) != sealed or row["content_hash"] != sealed:
            altered.append(key)
    return CampaignIntegrity(
        log_valid=chain.valid,
        log_entries=chain.entries,
        first_broken_seq=chain.first_broken_seq,
        problem=chain.problem,
        sealed=len(sealed_hash),
        unsealed=unsealed,
        altered=sorted(altered)[:100],
        missing=sorted(set(sealed_hash) - seen)[:100],
    )
