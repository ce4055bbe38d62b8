"""Questionnaire use cases. They take a session and flush; the caller commits."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from sqlalchemy import Select, bindparam, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.survey_svc.questionnaire.content import QuestionnaireContent
from services.survey_svc.questionnaire.models import Questionnaire, QuestionnaireStatus
from services.survey_svc.questionnaire.schemas import QuestionnaireCreate
from shared.api import check_version
from shared.auth.principal import Principal, Role
from shared.db import utcnow
from shared.errors import Conflict, Forbidden, NotFound
from shared.ids import new_id
from shared.pagination import PageParams, paginate
from shared.reads import Reader, ReadStatement

DESIGNERS = frozenset({Role.perf_office, Role.admin})


def in_subtree(column: Any, org_path: str) -> Any:
    """``column`` is ``org_path`` or below it (LIKE with "_" escaped: it is legal in org paths)."""
    if org_path == "/":
        return column.startswith("/")
    return (column == org_path) | column.startswith(org_path + "/", autoescape=True)


def check_designer(principal: Principal, org_path: str) -> None:
    if not principal.has_any(DESIGNERS):
        raise Forbidden("Only the performance office or an admin may design questionnaires.")
    if not principal.in_scope(org_path):
        raise Forbidden("The org unit is outside your scope.")


def content_hash(content: QuestionnaireContent) -> str:
    canonical = json.dumps(content.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def visible_to(principal: Principal) -> Any:
    return or_(
        Questionnaire.status != QuestionnaireStatus.draft, in_subtree(Questionnaire.org_path, principal.org_path)
    )


async def get_questionnaire(
    session: AsyncSession, *, principal: Principal, questionnaire_id: uuid.UUID, for_update: bool = False
) -> Questionnaire:
    stmt = select(Questionnaire).where(Questionnaire.id == questionnaire_id)
    found = await session.scalar(stmt.with_for_update() if for_update else stmt)
    # A draft out of scope is reported as missing: no probing for other units' drafts.
    if found is None or (found.status == QuestionnaireStatus.draft and not principal.in_scope(found.org_path)):
        raise NotFound("No such questionnaire.")
    return found


async def list_questionnaires(
    session: AsyncSession,
    *,
    principal: Principal,
    page: PageParams,
    status: QuestionnaireStatus | None,
    ids: list[uuid.UUID] | None,
) -> tuple[list[Questionnaire], str | None]:
    stmt: Select[Any] = select(Questionnaire).where(visible_to(principal))
    if status is not None:
        stmt = stmt.where(Questionnaire.status == status)
    if ids is not None:
        stmt = stmt.where(Questionnaire.id.in_(ids))
    return await paginate(session, stmt, Questionnaire.id, page)


async def _insert(session: AsyncSession, questionnaire: Questionnaire) -> Questionnaire:
    session.add(questionnaire)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(
            "A questionnaire with this code and version exists in this org unit, or its lineage has an open draft."
        ) from None
    return questionnaire


async def create_questionnaire(
    session: AsyncSession, *, principal: Principal, data: QuestionnaireCreate
) -> Questionnaire:
    check_designer(principal, data.org_path)
    return await _insert(
        session,
        Questionnaire(
            id=new_id(),
            lineage_id=new_id(),
            version=1,
            code=data.code,
            org_unit_id=data.org_unit_id,
            org_path=data.org_path,
            status=QuestionnaireStatus.draft,
            content=data.content.model_dump(mode="json"),
            created_by=principal.subject,
            lock_version=1,
        ),
    )


async def get_writable_draft(
    session: AsyncSession, *, principal: Principal, questionnaire_id: uuid.UUID, expected_version: int | None
) -> Questionnaire:
    found = await get_questionnaire(session, principal=principal, questionnaire_id=questionnaire_id, for_update=True)
    check_designer(principal, found.org_path)
    check_version(found.lock_version, expected_version)
    if found.status != QuestionnaireStatus.draft:
        raise Conflict("A published questionnaire never changes; create a new version instead.")
    return found


async def update_questionnaire(
    session: AsyncSession,
    *,
    principal: Principal,
    questionnaire_id: uuid.UUID,
    content: QuestionnaireContent,
    expected_version: int | None,
) -> Questionnaire:
    found = await get_writable_draft(
        session, principal=principal, questionnaire_id=questionnaire_id, expected_version=expected_version
    )
    found.content = content.model_dump(mode="json")
    found.lock_version += 1
    found.updated_at = utcnow()
    await session.flush()
    return found


async def publish_questionnaire(
    session: AsyncSession, *, principal: Principal, questionnaire_id: uuid.UUID, expected_version: int | None
) -> Questionnaire:
    found = await get_writable_draft(
        session, principal=principal, questionnaire_id=questionnaire_id, expected_version=expected_version
    )
    found.status = QuestionnaireStatus.published
    found.content_hash = content_hash(QuestionnaireContent.model_validate(found.content))
    found.published_at = utcnow()
    found.lock_version += 1
    await session.flush()
    return found


async def new_version(session: AsyncSession, *, principal: Principal, questionnaire_id: uuid.UUID) -> Questionnaire:
    """A draft v(n+1) of a published questionnaire, starting from its content."""
    source = await get_questionnaire(session, principal=principal, questionnaire_id=questionnaire_id)
    check_designer(principal, source.org_path)
    latest = await session.scalar(
        select(Questionnaire.version)
        .where(Questionnaire.lineage_id == source.lineage_id)
        .order_by(Questionnaire.version.desc())
        .limit(1)
    )
    return await _insert(
        session,
        Questionnaire(
            id=new_id(),
            lineage_id=source.lineage_id,
            version=(latest or source.version) + 1,
            code=source.code,
            org_unit_id=source.org_unit_id,
            org_path=source.org_path,
            status=QuestionnaireStatus.draft,
            content=source.content,
            previous_version_id=source.id,
            created_by=principal.subject,
            lock_version=1,
        ),
    )


# Published content never changes, so a parsed copy can be kept for the life of the process:
# response intake validates every answer against it without a query.
_published_cache: dict[uuid.UUID, QuestionnaireContent] = {}


async def published_content(session: AsyncSession, questionnaire_id: uuid.UUID) -> QuestionnaireContent:
    cached = _published_cache.get(questionnaire_id)
    if cached is not None:
        return cached
    row = (
        await session.execute(
            select(Questionnaire.content, Questionnaire.status).where(Questionnaire.id == questionnaire_id)
        )
    ).one()
    return _keep_published(questionnaire_id, row.content, row.status)


CONTENT_BY_ID = ReadStatement(
    select(Questionnaire.content, Questionnaire.status).where(Questionnaire.id == bindparam("questionnaire_id"))
)


async def published_content_read(reader: Reader, questionnaire_id: uuid.UUID) -> QuestionnaireContent:
    """As ``published_content``, without a unit of work (intake's hot path)."""
    cached = _published_cache.get(questionnaire_id)
    if cached is not None:
        return cached
    row = await reader.one(CONTENT_BY_ID, questionnaire_id=questionnaire_id)
    if row is None:
        raise NotFound("No such questionnaire.")
    return _keep_published(questionnaire_id, row["content"], row["status"])


def _keep_published(questionnaire_id: uuid.UUID, stored: Any, status: str) -> QuestionnaireContent:
    # A reader on a test's session connection gets jsonb as text (SQLAlchemy's codec), the pool as a value.
    content = (
        QuestionnaireContent.model_validate_json(stored)
        if isinstance(stored, str)
        else QuestionnaireContent.model_validate(stored)
    )
    if status == QuestionnaireStatus.published:
        _published_cache[questionnaire_id] = content
    return content
