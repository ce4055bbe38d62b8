"""Expert assignments, sealed ratings and veto events. They flush; the caller commits."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from sqlalchemy import and_, exists, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.appraisal_svc.access import ADMIN, OFFICE, READERS, in_subtree, require_role
from services.appraisal_svc.audit import service as audit
from services.appraisal_svc.collection.models import EvidenceFile
from services.appraisal_svc.expert import logic
from services.appraisal_svc.expert.models import ExpertAssignment, ExpertRating, VetoEvent
from services.appraisal_svc.expert.schemas import (
    ExpertAssignmentBatch,
    ExpertAssignmentRead,
    ExpertRatingPut,
    ExpertRatingRead,
    VetoEventCreate,
    VetoEventRead,
)
from services.appraisal_svc.orgunit.models import AppraisalObject, OrgUnit
from services.appraisal_svc.plan import service as plans
from services.appraisal_svc.plan.models import Plan, PlanLeaf, PlanObject
from shared.auth.principal import JOINT_MEETING_ROLES, Principal, Role
from shared.db import utcnow
from shared.errors import Conflict, NotFound, Unprocessable
from shared.ids import new_id
from shared.pagination import PageParams, encode_cursor

EXPERTS = frozenset({Role.expert})
# Who sees the panel and, once the seal lifts, the grades: the office and the joint-meeting units.
PANEL_READERS = OFFICE | JOINT_MEETING_ROLES
VETO_RECORDERS = ADMIN | {Role.perf_office, Role.supervision, Role.audit, Role.legal}
MAX_PROBLEMS = 200
AUDIT_ROWS_INLINE = 100

_ITEMS = """
  WITH item AS (
    SELECT * FROM unnest(CAST(:experts AS text[]), CAST(:paths AS text[]), CAST(:objects AS uuid[]),
                         CAST(:codes AS text[]), CAST(:subjects AS text[]))
           WITH ORDINALITY AS i(expert, expert_org_path, object_id, indicator_code, subject, n)
  )
"""


def _problems(rows: Any) -> list[dict[str, Any]]:
    return [{"field": f"items.{r.n - 1}.{r.field}", "message": r.message} for r in rows][:MAX_PROBLEMS]


async def create_assignments(
    session: AsyncSession, *, principal: Principal, plan_id: uuid.UUID, data: ExpertAssignmentBatch
) -> list[uuid.UUID]:
    """All or nothing: every row is checked in SQL first (object and leaf of the plan, the leaf's
    subject, duplicates, the conflict of interest), then the rows go in with one INSERT."""
    # The plan row lock serializes concurrent batches of one plan, so "already assigned" holds.
    plan, _ = await plans.load_writable(session, principal=principal, plan_id=plan_id)
    refusal = logic.assignment_refusal(plan.status, plan.rating_closes_at, utcnow())
    if refusal:
        raise Conflict(f"Experts cannot be assigned now: {refusal}.")
    params = {
        "plan": plan.id,
        "experts": [i.expert for i in data.items],
        "paths": [i.expert_org_path for i in data.items],
        "objects": [i.object_id for i in data.items],
        "codes": [i.indicator_code for i in data.items],
        "subjects": [i.subject for i in data.items],
    }
    invalid = await session.execute(
        text(
            _ITEMS  # noqa: S608 - constants only; values are bound
            + """
            SELECT n, field, message FROM (
              SELECT i.n, 'object_id' AS field, 'not an object of this plan' AS message
                FROM item i LEFT JOIN appraisal.plan_object po ON po.plan_id = :plan AND po.object_id = i.object_id
               WHERE po.object_id IS NULL
              UNION ALL
              SELECT i.n, 'indicator_code', 'not a leaf of this plan scored by method grade'
                FROM item i LEFT JOIN appraisal.plan_leaf l
                  ON l.plan_id = :plan AND l.indicator_code = i.indicator_code AND l.method = 'grade'
               WHERE l.indicator_code IS NULL
              UNION ALL
              SELECT i.n, 'subject', 'the leaf does not count for this evaluation subject'
                FROM item i JOIN appraisal.plan_leaf l
                  ON l.plan_id = :plan AND l.indicator_code = i.indicator_code AND l.method = 'grade'
               WHERE NOT (i.subject = ANY (l.evaluation_subjects))
              UNION ALL
              SELECT n, 'expert', 'the same expert, object, leaf and subject appear more than once'
                FROM (SELECT n, count(*) OVER (PARTITION BY expert, object_id, indicator_code, subject) AS c
                        FROM item) d
               WHERE c > 1
              UNION ALL
              SELECT i.n, 'expert', 'this expert is already assigned to this object, leaf and subject'
                FROM item i JOIN appraisal.expert_assignment a
                  ON a.plan_id = :plan AND a.expert = i.expert AND a.object_id = i.object_id
                 AND a.indicator_code = i.indicator_code AND a.subject = i.subject
            ) p ORDER BY n, field LIMIT 200
            """
        ),
        params,
    )
    errors = _problems(invalid)
    if errors:
        raise Unprocessable(f"{len(errors)} assignment(s) cannot be made; none was made.", errors=errors)
    conflicted = await session.execute(
        text(
            _ITEMS  # noqa: S608 - constants only; values are bound
            + """
            SELECT i.n, 'expert_org_path' AS field,
                   'conflict of interest: the expert belongs to ' || u.org_path || ' or a unit below it' AS message
              FROM item i
              JOIN appraisal.appraisal_object o ON o.id = i.object_id
              JOIN appraisal.org_unit u ON u.id = o.org_unit_id
             WHERE u.org_path = '/' OR i.expert_org_path = u.org_path
                OR starts_with(i.expert_org_path, u.org_path || '/')
             ORDER BY i.n LIMIT 200
            """
        ),
        params,
    )
    errors = _problems(conflicted)
    if errors:
        raise Conflict(
            f"{len(errors)} assignment(s) would let an expert rate their own unit or one above it; none was made.",
            errors=errors,
        )
    ids = [new_id() for _ in data.items]
    written = (
        await session.execute(
            text(
                """
                WITH inserted AS (
                  INSERT INTO appraisal.expert_assignment
                    (id, plan_id, expert, expert_org_path, object_id, indicator_code, subject, assigned_by, assigned_at)
                  SELECT i.id, :plan, i.expert, i.expert_org_path, i.object_id, i.indicator_code, i.subject, :by, now()
                    FROM unnest(CAST(:ids AS uuid[]), CAST(:experts AS text[]), CAST(:paths AS text[]),
                                CAST(:objects AS uuid[]), CAST(:codes AS text[]), CAST(:subjects AS text[]))
                         AS i(id, expert, expert_org_path, object_id, indicator_code, subject)
                  RETURNING id, concat_ws(',', id, expert, expert_org_path, object_id, indicator_code, subject) AS line
                )
                SELECT encode(sha256(convert_to(string_agg(line, E'\\n' ORDER BY id), 'UTF8')), 'hex') AS digest,
                       CASE WHEN count(*) <= :inline THEN array_agg(line ORDER BY id) END AS lines
                  FROM inserted
                """
            ),
            {**params, "ids": ids, "by": principal.subject, "inline": AUDIT_ROWS_INLINE},
        )
    ).one()
    # One entry per batch, as for submitted data: the rows themselves when few, else their digest
    # ("id,expert,expert_org_path,object_id,indicator_code,subject" lines in id order).
    payload: dict[str, Any] = {"count": len(ids), "rows_sha256": written.digest}
    if written.lines is not None:
        payload["rows"] = list(written.lines)
    await audit.record(session, principal, "expert.assigned", "plan", plan.id, payload)
    return ids


def _rated() -> Any:
    return exists().where(ExpertRating.assignment_id == ExpertAssignment.id)


async def _plan_exists(session: AsyncSession, plan_id: uuid.UUID) -> Plan:
    plan = await session.get(Plan, plan_id)
    if plan is None:
        raise NotFound("No such plan.")
    return plan


async def list_assignments(
    session: AsyncSession,
    *,
    principal: Principal,
    plan_id: uuid.UUID,
    page: PageParams,
    mine: bool,
    object_id: uuid.UUID | None,
    expert: str | None,
) -> tuple[list[ExpertAssignmentRead], str | None]:
    """An expert sees their own assignments; the office and joint-meeting units the plan's panel
    for the objects in their scope (whether each is rated, never the grade)."""
    stmt = select(ExpertAssignment, _rated().label("rated")).where(ExpertAssignment.plan_id == plan_id)
    if mine or not principal.has_any(PANEL_READERS):
        require_role(principal, EXPERTS | PANEL_READERS, "read expert assignments")
        await _plan_exists(session, plan_id)
        stmt = stmt.where(ExpertAssignment.expert == principal.subject)
    else:
        await plans.load(session, principal=principal, plan_id=plan_id)
        stmt = (
            stmt.join(AppraisalObject, AppraisalObject.id == ExpertAssignment.object_id)
            .join(OrgUnit, OrgUnit.id == AppraisalObject.org_unit_id)
            .where(in_subtree(OrgUnit.org_path, principal.org_path))
        )
    if object_id is not None:
        stmt = stmt.where(ExpertAssignment.object_id == object_id)
    if expert is not None:
        stmt = stmt.where(ExpertAssignment.expert == expert)
    if page.cursor is not None:
        stmt = stmt.where(ExpertAssignment.id > page.cursor)
    rows = (await session.execute(stmt.order_by(ExpertAssignment.id).limit(page.limit + 1))).all()
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    items = [
        ExpertAssignmentRead.model_validate(
            {**{c: getattr(r[0], c) for c in ExpertAssignmentRead.model_fields if c != "rated"}, "rated": r.rated}
        )
        for r in rows
    ]
    return items, encode_cursor(rows[-1][0].id) if more and rows else None


async def delete_assignment(
    session: AsyncSession, *, principal: Principal, plan_id: uuid.UUID, assignment_id: uuid.UUID
) -> None:
    """Before the rating window closes only; a rating already given goes with it (logged)."""
    plan, _ = await plans.load_writable(session, principal=principal, plan_id=plan_id)
    assignment = await session.scalar(
        select(ExpertAssignment)
        .where(ExpertAssignment.id == assignment_id, ExpertAssignment.plan_id == plan.id)
        .with_for_update()
    )
    if assignment is None:
        raise NotFound("No such expert assignment in this plan.")
    refusal = logic.assignment_refusal(plan.status, plan.rating_closes_at, utcnow())
    if refusal:
        raise Conflict(f"The assignment cannot be withdrawn now: {refusal}.")
    had_rating = bool(await session.scalar(select(_rated())))
    await session.delete(assignment)
    await session.flush()
    await audit.record(
        session,
        principal,
        "expert.unassigned",
        "expert_assignment",
        assignment.id,
        {"plan_id": str(plan.id), "expert": assignment.expert, "had_rating": had_rating},
    )


async def put_rating(
    session: AsyncSession, *, principal: Principal, plan_id: uuid.UUID, assignment_id: uuid.UUID, data: ExpertRatingPut
) -> ExpertRatingRead:
    """The assigned expert gives or changes their grade while the window is open."""
    require_role(principal, EXPERTS, "rate")
    # Locking the assignment serializes two PUTs of one rating (the later one wins, both logged).
    row = (
        await session.execute(
            select(ExpertAssignment, Plan.status, Plan.rating_closes_at, OrgUnit.org_path, PlanLeaf.scoring)
            .join(Plan, Plan.id == ExpertAssignment.plan_id)
            .join(AppraisalObject, AppraisalObject.id == ExpertAssignment.object_id)
            .join(OrgUnit, OrgUnit.id == AppraisalObject.org_unit_id)
            .join(
                PlanLeaf,
                and_(PlanLeaf.plan_id == Plan.id, PlanLeaf.indicator_code == ExpertAssignment.indicator_code),
            )
            .where(ExpertAssignment.id == assignment_id, ExpertAssignment.plan_id == plan_id)
            .with_for_update(of=ExpertAssignment)
        )
    ).first()
    # Someone else's assignment is reported as missing: its existence is none of the caller's business.
    if row is None or row[0].expert != principal.subject:
        raise NotFound("No such assignment of yours in this plan.")
    assignment: ExpertAssignment = row[0]
    if logic.conflicted(principal.org_path, row.org_path):
        raise Conflict(
            "Conflict of interest: you belong to the rated unit or a unit below it.",
            errors=[{"field": "assignment_id", "message": "your unit lies at or below the rated object's unit"}],
        )
    now = utcnow()
    refusal = logic.rating_refusal(row.status, row.rating_closes_at, now)
    if refusal:
        raise Conflict(f"Ratings cannot be given now: {refusal}.")
    scale = logic.grade_scale(row.scoring)
    if data.grade not in scale:
        raise Unprocessable(
            "The grade is not on the leaf's scale.",
            errors=[{"field": "grade", "message": f"one of {', '.join(scale)}"}],
        )
    nonce = secrets.token_hex(16)
    commitment = logic.commitment(nonce, str(assignment.id), data.grade, data.comment)
    values = {
        "assignment_id": assignment.id,
        "plan_id": assignment.plan_id,
        "object_id": assignment.object_id,
        "indicator_code": assignment.indicator_code,
        "subject": assignment.subject,
        "grade": data.grade,
        "comment": data.comment,
        "rated_at": now,
        "seal_nonce": nonce,
        "commitment": commitment,
    }
    stmt = insert(ExpertRating).values(values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[ExpertRating.assignment_id],
            set_={k: stmt.excluded[k] for k in ("grade", "comment", "rated_at", "seal_nonce", "commitment")},
        )
    )
    # The log fixes the rating without revealing it: the commitment only (the salt lifts with the seal).
    await audit.record(
        session,
        principal,
        "expert.rated",
        "expert_rating",
        assignment.id,
        {"plan_id": str(assignment.plan_id), "object_id": str(assignment.object_id), "commitment": commitment},
    )
    return ExpertRatingRead.model_validate(
        {**values, "expert": assignment.expert, "sealed": logic.sealed(row.rating_closes_at, now)}
    )


async def list_ratings(
    session: AsyncSession, *, principal: Principal, plan_id: uuid.UUID, page: PageParams, mine: bool
) -> tuple[list[ExpertRatingRead], str | None]:
    """``mine``: the expert's own ratings, always readable. Otherwise the office and joint-meeting
    units see the plan's ratings for objects in their scope, their grades only once the seal lifts."""
    stmt = select(ExpertRating, ExpertAssignment.expert).join(
        ExpertAssignment, ExpertAssignment.id == ExpertRating.assignment_id
    )
    if mine:
        require_role(principal, EXPERTS, "read your ratings")
        plan = await _plan_exists(session, plan_id)
        stmt = stmt.where(ExpertAssignment.expert == principal.subject)
    else:
        plan, _ = await plans.load(session, principal=principal, plan_id=plan_id)
        require_role(principal, PANEL_READERS, "read expert ratings")
        stmt = (
            stmt.join(AppraisalObject, AppraisalObject.id == ExpertRating.object_id)
            .join(OrgUnit, OrgUnit.id == AppraisalObject.org_unit_id)
            .where(in_subtree(OrgUnit.org_path, principal.org_path))
        )
    stmt = stmt.where(ExpertRating.plan_id == plan_id)
    if page.cursor is not None:
        stmt = stmt.where(ExpertRating.assignment_id > page.cursor)
    rows = (await session.execute(stmt.order_by(ExpertRating.assignment_id).limit(page.limit + 1))).all()
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    sealed = logic.sealed(plan.rating_closes_at, utcnow())
    hidden = sealed and not mine
    items = [
        ExpertRatingRead(
            assignment_id=r[0].assignment_id,
            plan_id=r[0].plan_id,
            object_id=r[0].object_id,
            indicator_code=r[0].indicator_code,
            subject=r[0].subject,
            expert=r.expert,
            grade=None if hidden else r[0].grade,
            comment=None if hidden else r[0].comment,
            rated_at=r[0].rated_at,
            sealed=sealed,
            commitment=r[0].commitment,
            seal_nonce=None if sealed else r[0].seal_nonce,
        )
        for r in rows
    ]
    return items, encode_cursor(rows[-1][0].assignment_id) if more and rows else None


async def _object_path_in_plan(session: AsyncSession, plan_id: uuid.UUID, object_id: uuid.UUID) -> str | None:
    return await session.scalar(
        select(OrgUnit.org_path)
        .select_from(PlanObject)
        .join(AppraisalObject, AppraisalObject.id == PlanObject.object_id)
        .join(OrgUnit, OrgUnit.id == AppraisalObject.org_unit_id)
        .where(PlanObject.plan_id == plan_id, PlanObject.object_id == object_id)
    )


async def record_veto(
    session: AsyncSession, *, principal: Principal, plan_id: uuid.UUID, data: VetoEventCreate
) -> VetoEventRead:
    """A veto event on an object of the plan in the caller's scope, by a code a veto leaf lists."""
    plan, _ = await plans.load(session, principal=principal, plan_id=plan_id)
    require_role(principal, VETO_RECORDERS, "record veto events")
    object_path = await _object_path_in_plan(session, plan.id, data.object_id)
    if object_path is None or not principal.in_scope(object_path):
        raise Unprocessable(
            "The object is not in this plan, or not in your scope.",
            errors=[{"field": "object_id", "message": "not an object of this plan in your scope"}],
        )
    if plan.status not in logic.VETO_STATES:
        raise Conflict(f"The plan is {plan.status}; veto events can no longer be recorded.")
    scorings = (await session.scalars(select(PlanLeaf.scoring).where(PlanLeaf.plan_id == plan.id))).all()
    codes = logic.veto_codes(list(scorings))
    if data.code not in codes:
        raise Unprocessable(
            "No veto leaf of this plan lists this code.",
            errors=[{"field": "code", "message": f"one of: {', '.join(sorted(codes)) or 'none (no veto leaves)'}"}],
        )
    if data.evidence_sha256 is not None and await session.get(EvidenceFile, data.evidence_sha256) is None:
        raise Unprocessable(
            "Unknown evidence file; upload it to /evidence first.",
            errors=[{"field": "evidence_sha256", "message": "unknown evidence file"}],
        )
    event = VetoEvent(
        id=new_id(),
        plan_id=plan.id,
        object_id=data.object_id,
        code=data.code,
        occurred_on=data.occurred_on,
        description=data.description,
        evidence_sha256=data.evidence_sha256,
        recorded_by=principal.subject,
        recorded_at=utcnow(),
    )
    session.add(event)
    await session.flush()
    await audit.record(session, principal, "veto.recorded", "veto_event", event.id, data.model_dump(mode="json"))
    return VetoEventRead.model_validate(event)


async def withdraw_veto(
    session: AsyncSession, *, principal: Principal, plan_id: uuid.UUID, veto_id: uuid.UUID, reason: str
) -> VetoEventRead:
    """Once only; the event stays on record with who withdrew it and why."""
    plan, _ = await plans.load(session, principal=principal, plan_id=plan_id)
    require_role(principal, VETO_RECORDERS, "withdraw veto events")
    event = await session.scalar(
        select(VetoEvent).where(VetoEvent.id == veto_id, VetoEvent.plan_id == plan.id).with_for_update()
    )
    object_path = await _object_path_in_plan(session, plan.id, event.object_id) if event else None
    if event is None or object_path is None or not principal.in_scope(object_path):
        raise NotFound("No such veto event in this plan.")
    if event.withdrawn_at is not None:
        raise Conflict(f"The veto event was already withdrawn at {event.withdrawn_at.isoformat()}.")
    if plan.status not in logic.VETO_STATES:
        raise Conflict(f"The plan is {plan.status}; veto events can no longer be withdrawn.")
    event.withdrawn_at = utcnow()
    event.withdrawn_by = principal.subject
    event.withdraw_reason = reason
    await session.flush()
    await audit.record(session, principal, "veto.withdrawn", "veto_event", event.id, {"reason": reason})
    return VetoEventRead.model_validate(event)


async def list_vetoes(
    session: AsyncSession,
    *,
    principal: Principal,
    plan_id: uuid.UUID,
    page: PageParams,
    object_id: uuid.UUID | None,
    active: bool | None,
) -> tuple[list[VetoEventRead], str | None]:
    await plans.load(session, principal=principal, plan_id=plan_id)
    require_role(principal, READERS, "read veto events")
    stmt = (
        select(VetoEvent)
        .join(AppraisalObject, AppraisalObject.id == VetoEvent.object_id)
        .join(OrgUnit, OrgUnit.id == AppraisalObject.org_unit_id)
        .where(VetoEvent.plan_id == plan_id, in_subtree(OrgUnit.org_path, principal.org_path))
    )
    if object_id is not None:
        stmt = stmt.where(VetoEvent.object_id == object_id)
    if active is True:
        stmt = stmt.where(VetoEvent.withdrawn_at.is_(None))
    elif active is False:
        stmt = stmt.where(VetoEvent.withdrawn_at.is_not(None))
    if page.cursor is not None:
        stmt = stmt.where(VetoEvent.id > page.cursor)
    rows = list((await session.scalars(stmt.order_by(VetoEvent.id).limit(page.limit + 1))).all())
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    return [VetoEventRead.model_validate(r) for r in rows], encode_cursor(rows[-1].id) if more and rows else None
