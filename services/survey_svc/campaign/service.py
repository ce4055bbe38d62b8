"""Campaign use cases: design, life cycle, tokens and investigators' quotas. They flush; the caller commits."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.survey_svc.campaign import logic, tokens
from services.survey_svc.campaign.models import Campaign, CampaignStatus, InvestigatorQuota, RespondentToken, TokenBatch
from services.survey_svc.campaign.schemas import CampaignCreate, CampaignUpdate, QuotaAssign, TokenBatchCreate
from services.survey_svc.db import TABLES
from services.survey_svc.questionnaire.models import Questionnaire, QuestionnaireStatus
from services.survey_svc.questionnaire.service import in_subtree
from shared import idempotency
from shared.api import check_version
from shared.auth.principal import Principal, Role
from shared.db import utcnow
from shared.errors import BadRequest, Conflict, Forbidden, NotFound, Unprocessable
from shared.ids import new_id
from shared.pagination import PageParams, paginate

ORGANIZERS = frozenset({Role.perf_office, Role.admin})
# Who may read an unpublished campaign of their subtree: organizers, the joint-meeting units that
# check integrity, and investigators doing its fieldwork.
INSIDE_READERS = ORGANIZERS | {Role.audit, Role.supervision, Role.investigator}
INTEGRITY_READERS = ORGANIZERS | {Role.audit, Role.supervision}


def check_organizer(principal: Principal, org_path: str) -> None:
    if not principal.has_any(ORGANIZERS):
        raise Forbidden("Only the organizing performance office or an admin may run campaigns.")
    if not principal.in_scope(org_path):
        raise Forbidden("The campaign's org unit is outside your scope.")


def can_read(principal: Principal, campaign: Campaign) -> bool:
    if campaign.status == CampaignStatus.published:
        return True
    return principal.has_any(INSIDE_READERS) and principal.in_scope(campaign.org_path)


def visible_to(principal: Principal) -> Any:
    published = Campaign.status == CampaignStatus.published
    if not principal.has_any(INSIDE_READERS):
        return published
    return or_(published, in_subtree(Campaign.org_path, principal.org_path))


async def get_campaign(
    session: AsyncSession, *, principal: Principal, campaign_id: uuid.UUID, for_update: bool = False
) -> Campaign:
    stmt = select(Campaign).where(Campaign.id == campaign_id)
    found = await session.scalar(stmt.with_for_update() if for_update else stmt)
    if found is None or not can_read(principal, found):
        raise NotFound("No such campaign.")
    return found


async def get_organized(session: AsyncSession, *, principal: Principal, campaign_id: uuid.UUID) -> Campaign:
    """The campaign, locked, for its organizer (actions on it that do not change its own row)."""
    found = await get_campaign(session, principal=principal, campaign_id=campaign_id, for_update=True)
    check_organizer(principal, found.org_path)
    return found


async def get_organized_at(
    session: AsyncSession, *, principal: Principal, campaign_id: uuid.UUID, expected_version: int | None
) -> Campaign:
    """The same for changing the campaign itself: 428 without the version last read, 412 when stale."""
    found = await get_organized(session, principal=principal, campaign_id=campaign_id)
    check_version(found.lock_version, expected_version)
    return found


async def list_campaigns(
    session: AsyncSession,
    *,
    principal: Principal,
    page: PageParams,
    status: CampaignStatus | None,
    ids: list[uuid.UUID] | None,
) -> tuple[list[Campaign], str | None]:
    stmt: Select[Any] = select(Campaign).where(visible_to(principal))
    if status is not None:
        stmt = stmt.where(Campaign.status == status)
    if ids is not None:
        stmt = stmt.where(Campaign.id.in_(ids))
    return await paginate(session, stmt, Campaign.id, page)


async def create_campaign(session: AsyncSession, *, principal: Principal, data: CampaignCreate) -> Campaign:
    check_organizer(principal, data.org_path)
    questionnaire = await session.get(Questionnaire, data.questionnaire_id)
    if questionnaire is None or (
        questionnaire.status == QuestionnaireStatus.draft and not principal.in_scope(questionnaire.org_path)
    ):
        raise Unprocessable("No such questionnaire.", errors=[{"field": "questionnaire_id", "message": "not found"}])
    if questionnaire.status != QuestionnaireStatus.published:
        raise Unprocessable(
            "Campaigns use a published questionnaire version.",
            errors=[{"field": "questionnaire_id", "message": "publish the questionnaire first"}],
        )
    campaign = Campaign(
        id=new_id(),
        questionnaire_version=questionnaire.version,
        status=CampaignStatus.draft,
        analysis_version=0,
        created_by=principal.subject,
        lock_version=1,
        **data.model_dump(mode="json", include={"objects", "cells"}),
        **data.model_dump(exclude={"objects", "cells"}),
    )
    session.add(campaign)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict("A campaign with this code exists in this org unit.") from None
    return campaign


def _touch(campaign: Campaign) -> None:
    campaign.lock_version += 1
    campaign.updated_at = utcnow()


async def update_campaign(
    session: AsyncSession,
    *,
    principal: Principal,
    campaign_id: uuid.UUID,
    data: CampaignUpdate,
    expected_version: int | None,
) -> Campaign:
    campaign = await get_organized_at(
        session, principal=principal, campaign_id=campaign_id, expected_version=expected_version
    )
    if campaign.status != CampaignStatus.draft:
        raise Conflict(f"The campaign is {campaign.status}; only a draft's design changes.")
    changes = data.model_dump(exclude_unset=True, exclude={"version"}, mode="json")
    for name, value in changes.items():
        if value is None:
            raise Unprocessable("Omit a field to keep it.", errors=[{"field": name, "message": "may not be null"}])
    for name in ("fieldwork_start", "fieldwork_end"):
        if name in changes:
            changes[name] = getattr(data, name)
    start = changes.get("fieldwork_start", campaign.fieldwork_start)
    end = changes.get("fieldwork_end", campaign.fieldwork_end)
    if end < start:
        raise Unprocessable(
            "fieldwork_end is before fieldwork_start.", errors=[{"field": "fieldwork_end", "message": "before start"}]
        )
    for name, value in changes.items():
        setattr(campaign, name, value)
    _touch(campaign)
    await session.flush()
    return campaign


async def transition(
    session: AsyncSession, *, principal: Principal, campaign_id: uuid.UUID, to: str, expected_version: int | None
) -> Campaign:
    campaign = await get_organized_at(
        session, principal=principal, campaign_id=campaign_id, expected_version=expected_version
    )
    status = logic.next_status(campaign.status, to)
    if status is None:
        raise Conflict(f"A {campaign.status} campaign cannot move to {to}.")
    campaign.status = status
    _touch(campaign)
    await session.flush()
    return campaign


def _cell_of(campaign: Campaign, group: str, region: str) -> dict[str, Any] | None:
    return next((c for c in campaign.cells if c["respondent_group"] == group and c["region"] == region), None)


def check_cell_and_object(campaign: Campaign, group: str, region: str, object_id: uuid.UUID) -> None:
    errors = []
    if _cell_of(campaign, group, region) is None:
        errors.append({"field": "region", "message": f"{group} x {region} is not a cell of this campaign"})
    if str(object_id) not in {o["id"] for o in campaign.objects}:
        errors.append({"field": "object_id", "message": "not an object this campaign rates"})
    if errors:
        raise Unprocessable("The cell or object is not part of this campaign.", errors=errors)


async def issue_tokens(
    session: AsyncSession, *, principal: Principal, campaign_id: uuid.UUID, data: TokenBatchCreate, key: bytes
) -> str:
    """A CSV of new tokens (the only time they exist in clear); their keyed hashes are stored by COPY."""
    campaign = await get_organized(session, principal=principal, campaign_id=campaign_id)
    if campaign.status not in (CampaignStatus.approved, CampaignStatus.fieldwork):
        raise Conflict("Tokens are issued for approved campaigns and during fieldwork.")
    check_cell_and_object(campaign, data.respondent_group, data.region, data.object_id)
    if data.expires_at <= utcnow():
        raise Unprocessable(
            "The tokens would be expired already.", errors=[{"field": "expires_at", "message": "in the past"}]
        )
    batch = TokenBatch(id=new_id(), campaign_id=campaign.id, created_by=principal.subject, **data.model_dump())
    session.add(batch)
    await session.flush()
    clear = [tokens.new_token() for _ in range(data.count)]
    records = [
        (
            tokens.token_hash(key, t),
            campaign.id,
            batch.id,
            data.respondent_group,
            data.region,
            data.object_id,
            data.expires_at,
            False,
        )
        for t in clear
    ]
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
        RespondentToken.__tablename__,
        schema_name="survey",
        records=records,
        columns=[
            "token_hash",
            "campaign_id",
            "batch_id",
            "respondent_group",
            "region",
            "object_id",
            "expires_at",
            "spent",
        ],
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["token", "respondent_page"])
    writer.writerows([t, f"/public/surveys/s/{t}"] for t in clear)
    return out.getvalue()


async def issue_tokens_once(
    session: AsyncSession,
    *,
    principal: Principal,
    campaign_id: uuid.UUID,
    data: TokenBatchCreate,
    key: bytes,
    idempotency_key: str,
    fingerprint: str,
) -> str:
    """``issue_tokens`` once per Idempotency-Key: a retry (same principal, key and request) gets the
    same batch back instead of a second one. The stored copy opens only with the key itself
    (``tokens.seal_batch``), so the key must be long; the caller must still organize the campaign."""
    if len(idempotency_key) < tokens.MIN_REPLAY_KEY_LENGTH:
        raise BadRequest(
            f"On token batches the Idempotency-Key must have at least {tokens.MIN_REPLAY_KEY_LENGTH} "
            "characters (a random UUID): it is the only key to the stored copy of the tokens.",
            errors=[{"field": "Idempotency-Key", "message": "too short"}],
        )
    await get_organized(session, principal=principal, campaign_id=campaign_id)
    digest = tokens.replay_key_digest(idempotency_key)
    stored = await idempotency.replay(session, TABLES, subject=principal.subject, key=digest, fingerprint=fingerprint)
    if stored is not None:
        return tokens.open_batch(idempotency_key, stored[1]["sealed_csv"])
    body = await issue_tokens(session, principal=principal, campaign_id=campaign_id, data=data, key=key)
    await idempotency.remember(
        session,
        TABLES,
        subject=principal.subject,
        key=digest,
        fingerprint=fingerprint,
        status_code=201,
        response={"sealed_csv": tokens.seal_batch(idempotency_key, body)},
    )
    return body


async def assign_quotas(
    session: AsyncSession, *, principal: Principal, campaign_id: uuid.UUID, quotas: list[QuotaAssign]
) -> list[InvestigatorQuota]:
    campaign = await get_organized(session, principal=principal, campaign_id=campaign_id)
    if campaign.status in (CampaignStatus.closed, CampaignStatus.analysed, CampaignStatus.published):
        raise Conflict("Quotas change only before fieldwork ends.")
    for q in quotas:
        if _cell_of(campaign, q.respondent_group, q.region) is None:
            raise Unprocessable(
                "Not a cell of this campaign.",
                errors=[{"field": "region", "message": f"{q.respondent_group} x {q.region} is not a cell"}],
            )
    if quotas:
        stmt = pg_insert(InvestigatorQuota).values(
            [{"campaign_id": campaign.id, "used": 0, **q.model_dump()} for q in quotas]
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["campaign_id", "investigator", "respondent_group", "region"],
                set_={"quota": stmt.excluded.quota},
            )
        )
    return await list_quotas(session, campaign_id=campaign.id)


async def list_quotas(
    session: AsyncSession, *, campaign_id: uuid.UUID, investigator: str | None = None
) -> list[InvestigatorQuota]:
    stmt = select(InvestigatorQuota).where(InvestigatorQuota.campaign_id == campaign_id)
    if investigator is not None:
        stmt = stmt.where(InvestigatorQuota.investigator == investigator)
    rows = await session.scalars(
        stmt.order_by(InvestigatorQuota.investigator, InvestigatorQuota.respondent_group, InvestigatorQuota.region)
    )
    return list(rows.all())


async def token_counts(session: AsyncSession, campaign_id: uuid.UUID) -> dict[str, int]:
    row = (
        await session.execute(
            select(func.count(), func.count().filter(RespondentToken.spent)).where(
                RespondentToken.campaign_id == campaign_id
            )
        )
    ).one()
    return {"issued": int(row[0]), "spent": int(row[1])}


async def quotas_of_readable(
    session: AsyncSession, *, principal: Principal, campaign_ids: list[uuid.UUID]
) -> list[InvestigatorQuota]:
    """Every quota of the campaigns whose integrity the caller may read, and an investigator's own."""
    campaigns = (await session.scalars(select(Campaign).where(Campaign.id.in_(campaign_ids)))).all()
    full = [c.id for c in campaigns if principal.has_any(INTEGRITY_READERS) and principal.in_scope(c.org_path)]
    own = [c.id for c in campaigns if c.id not in full and can_read(principal, c)]
    stmt = select(InvestigatorQuota).where(
        or_(
            InvestigatorQuota.campaign_id.in_(full),
            InvestigatorQuota.campaign_id.in_(own) & (InvestigatorQuota.investigator == principal.subject),
        )
    )
    order = (InvestigatorQuota.campaign_id, InvestigatorQuota.investigator, InvestigatorQuota.respondent_group)
    return list((await session.scalars(stmt.order_by(*order))).all())
