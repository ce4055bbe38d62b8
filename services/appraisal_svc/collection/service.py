"""Data collection use cases: submission (one path for one row or 100,000: COPY into a staging
table, checks and writes in SQL), verification by a second person, flags, evidence and the
collection report. They flush; the caller commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, any_, func, literal, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services.appraisal_svc.access import (
    AUTHORITATIVE_SUBMITTERS,
    DECIDERS,
    FLAG_RESOLVERS,
    FLAGGERS,
    READERS,
    REJECTERS,
    SUBMITTERS,
    VERIFIERS,
    in_subtree,
    require_role,
)
from services.appraisal_svc.audit import service as audit
from services.appraisal_svc.collection import anomaly
from services.appraisal_svc.collection.models import DataFlag, DataPoint, EvidenceFile
from services.appraisal_svc.collection.schemas import DataPointSubmit
from services.appraisal_svc.cycle.models import Cycle
from services.appraisal_svc.orgunit.models import AppraisalObject, OrgUnit
from services.appraisal_svc.plan import service as plans
from services.appraisal_svc.plan.models import Plan, PlanLeaf
from services.appraisal_svc.publication.models import Objection
from shared.api import check_version
from shared.auth.principal import Principal, path_within
from shared.db import utcnow
from shared.errors import Conflict, Forbidden, NotFound, Unprocessable
from shared.evidence import EvidenceStore
from shared.ids import new_id
from shared.pagination import PageParams, encode_cursor

STAGE = "stage_data_point"
STAGE_COLUMNS = ("n", "object_id", "metric", "period", "source", "value", "unit", "notes", "evidence_sha256")
# Leaves whose scoring needs a submitted value (qualitative leaves are rated by experts, vetoes are events).
DATA_KINDS = ("quantitative", "satisfaction", "bonus", "deduction")
AUDIT_ROWS_INLINE = 100
# Leaves whose values are bounded beyond the general Measure: indices and item counts.
CHECKED_KINDS = ("satisfaction", "bonus", "deduction")


def _like_prefix(org_path: str) -> str:
    return org_path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "/%"


def _scope_sql(column: str, org_path: str) -> tuple[str, dict[str, str]]:
    if org_path == "/":
        return "true", {}
    return f"({column} = :scope OR {column} LIKE :scope_like ESCAPE '\\')", {
        "scope": org_path,
        "scope_like": _like_prefix(org_path),
    }


async def _stage(session: AsyncSession, records: list[tuple[Any, ...]]) -> None:
    await session.execute(
        text(
            f"CREATE TEMP TABLE IF NOT EXISTS {STAGE} (n int, object_id uuid, metric text, period text, "
            "source text, value numeric, unit text, notes text, evidence_sha256 text) ON COMMIT DROP"
        )
    )
    await session.execute(text(f"TRUNCATE {STAGE}"))
    raw = await (await session.connection()).get_raw_connection()
    await raw.driver_connection.copy_records_to_table(STAGE, records=records, columns=STAGE_COLUMNS)  # type: ignore[union-attr]
    # Statistics for the planner: the checks and writes below join this table with data_point.
    await session.execute(text(f"ANALYZE {STAGE}"))


async def _staged_errors(session: AsyncSession, principal: Principal) -> list[dict[str, Any]]:
    scope, params = _scope_sql("u.org_path", principal.org_path)
    rows = await session.execute(
        text(
            f"""
            SELECT n, field, message FROM (
              SELECT s.n, 'object_id' AS field, 'unknown object, or outside your scope' AS message
              FROM {STAGE} s
              LEFT JOIN appraisal.appraisal_object o ON o.id = s.object_id
              LEFT JOIN appraisal.org_unit u ON u.id = o.org_unit_id
              WHERE u.org_path IS NULL OR NOT {scope}
              UNION ALL
              SELECT n, 'metric', 'the same object, metric, period and source appears more than once'
              FROM (SELECT n, count(*) OVER (PARTITION BY object_id, metric, period, source) AS c FROM {STAGE}) x
              WHERE c > 1
              UNION ALL
              SELECT s.n, 'evidence_sha256', 'unknown evidence file; upload it to /evidence first'
              FROM {STAGE} s LEFT JOIN appraisal.evidence_file e ON e.sha256 = s.evidence_sha256
              WHERE s.evidence_sha256 IS NOT NULL AND e.sha256 IS NULL
              UNION ALL
              -- What a leaf scores must be scorable (docs/scoring.md): an index in [0, 100], a whole
              -- count of at least 0, for every plan that scores this object's metric in this period.
              (SELECT DISTINCT ON (s.n) s.n, 'value',
                     CASE WHEN l.kind = 'satisfaction'
                          THEN 'leaf ' || l.indicator_code || ' is a satisfaction index: it lies in [0, 100]'
                          ELSE 'leaf ' || l.indicator_code || ' counts ' || l.kind
                               || ' items: a whole number of at least 0' END
              FROM {STAGE} s
              JOIN appraisal.plan_leaf l ON l.metric = s.metric AND l.kind = ANY(:checked_kinds)
              JOIN appraisal.plan_object po ON po.plan_id = l.plan_id AND po.object_id = s.object_id
              JOIN appraisal.plan p ON p.id = l.plan_id
              JOIN appraisal.cycle c ON c.id = p.cycle_id AND c.label = s.period
              WHERE CASE WHEN l.kind = 'satisfaction' THEN s.value NOT BETWEEN 0 AND 100
                         ELSE s.value < 0 OR s.value <> trunc(s.value) END
              ORDER BY s.n, l.indicator_code)
            ) problems ORDER BY n LIMIT 200
            """  # noqa: S608 - constants only; values are bound
        ),
        {**params, "checked_kinds": list(CHECKED_KINDS)},
    )
    return [{"row": r.n, "field": r.field, "message": r.message} for r in rows]


async def _write_staged(session: AsyncSession, principal: Principal) -> Any:
    """Returns (count, digest, first id, lines when few) of the new revisions."""
    # The previous current revision steps aside (an undecided one is superseded, a decided one
    # keeps its status); the new revision numbers on from the highest one kept.
    await session.execute(
        text(
            f"""
            UPDATE appraisal.data_point d
               SET current = false, lock_version = d.lock_version + 1,
                   status = CASE WHEN d.status IN ('submitted', 'verified') THEN 'superseded' ELSE d.status END
              FROM {STAGE} s
             WHERE d.current AND d.object_id = s.object_id AND d.metric = s.metric
               AND d.period = s.period AND d.source = s.source
            """  # noqa: S608 - constants only; values are bound
        )
    )
    # Random (v4) ids: time order buys nothing here and making v7 ids per row costs a third of
    # the insert. The digest covers "id,object,metric,period,source,value" lines in id order, so
    # anyone can recompute it from the table and compare it with the audit entry.
    return (
        await session.execute(
            text(
                f"""
            WITH inserted AS (
              INSERT INTO appraisal.data_point
                (id, object_id, metric, period, source, revision, current, value, unit, notes,
                 evidence_sha256, evidence_name, evidence_size, evidence_type, status,
                 submitted_by, submitted_org_path, submitted_at, lock_version)
              SELECT gen_random_uuid(), s.object_id, s.metric, s.period, s.source, COALESCE(h.revision, 0) + 1,
                     true, s.value, s.unit, s.notes, s.evidence_sha256, e.name, e.size, e.media_type, 'submitted',
                     :by, :path, now(), 1
                FROM {STAGE} s
                LEFT JOIN (
                  SELECT d.object_id, d.metric, d.period, d.source, max(d.revision) AS revision
                    FROM appraisal.data_point d
                    JOIN {STAGE} k ON k.object_id = d.object_id AND k.metric = d.metric
                                  AND k.period = d.period AND k.source = d.source
                   GROUP BY 1, 2, 3, 4
                ) h ON h.object_id = s.object_id AND h.metric = s.metric AND h.period = s.period
                   AND h.source = s.source
                LEFT JOIN appraisal.evidence_file e ON e.sha256 = s.evidence_sha256
              RETURNING id, concat_ws(',', id, object_id, metric, period, source, value) AS line
            )
            SELECT count(*) AS count,
                   encode(sha256(convert_to(string_agg(line, E'\\n' ORDER BY id), 'UTF8')), 'hex') AS digest,
                   min(id::text) AS first_id,
                   CASE WHEN count(*) <= :inline THEN array_agg(line ORDER BY id) END AS lines
              FROM inserted
            """  # noqa: S608 - constants only; values are bound
            ),
            {"by": principal.subject, "path": principal.org_path, "inline": AUDIT_ROWS_INLINE},
        )
    ).one()


def _check_roles(principal: Principal, rows: Sequence[DataPointSubmit]) -> None:
    sources = {r.source for r in rows}
    if "unit" in sources:
        require_role(principal, SUBMITTERS, "submit data")
    if "authoritative" in sources:
        require_role(principal, AUTHORITATIVE_SUBMITTERS, "submit authoritative data")


async def submit(
    session: AsyncSession,
    *,
    principal: Principal,
    rows: Sequence[DataPointSubmit],
    tolerances: anomaly.Tolerances,
    first_row: int = 1,
) -> tuple[int, uuid.UUID, int]:
    """All or nothing. Returns how many revisions were written, the first one's id, and the flags raised."""
    _check_roles(principal, rows)
    records = [
        (
            number,
            r.object_id,
            r.metric,
            r.period,
            r.source,
            r.value,
            r.unit,
            r.notes,
            r.evidence_sha256,
        )
        for number, r in enumerate(rows, start=first_row)
    ]
    await _stage(session, records)
    errors = await _staged_errors(session, principal)
    if errors:
        raise Unprocessable(
            f"{len(errors)}{'+' if len(errors) == 200 else ''} row(s) cannot be stored; nothing was stored.",
            errors=errors,
        )
    try:
        async with session.begin_nested():
            written = await _write_staged(session, principal)
    except IntegrityError:
        raise Conflict("Some of these values were submitted concurrently by someone else; reload and retry.") from None
    # One entry per submission: the rows themselves when few, else their digest.
    payload: dict[str, Any] = {"count": written.count, "rows_sha256": written.digest}
    if written.lines is not None:
        payload["rows"] = list(written.lines)
    await audit.record(session, principal, "data_point.submitted", "data_point", written.first_id, payload)
    raised = await anomaly.scan(session, {(r.metric, r.period) for r in rows}, tolerances)
    return written.count, uuid.UUID(written.first_id), raised


# --- reading ------------------------------------------------------------------------------


def _point_query() -> Select[DataPoint, str]:
    return (
        select(DataPoint, OrgUnit.org_path)
        .join(AppraisalObject, AppraisalObject.id == DataPoint.object_id)
        .join(OrgUnit, OrgUnit.id == AppraisalObject.org_unit_id)
    )


async def load_point(
    session: AsyncSession, *, principal: Principal, point_id: uuid.UUID, for_update: bool = False
) -> tuple[DataPoint, str]:
    require_role(principal, READERS | AUTHORITATIVE_SUBMITTERS, "read data")
    stmt = _point_query().where(DataPoint.id == point_id)
    if for_update:
        stmt = stmt.with_for_update(of=DataPoint)
    row = (await session.execute(stmt)).first()
    if row is None or not principal.in_scope(row.org_path):
        raise NotFound("No such data point.")
    return row[0], row.org_path


async def flags_of(session: AsyncSession, point_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[DataFlag]]:
    out: dict[uuid.UUID, list[DataFlag]] = {}
    if not point_ids:
        return out
    for flag in (
        await session.scalars(
            select(DataFlag).where(DataFlag.data_point_id.in_(point_ids)).order_by(DataFlag.raised_at)
        )
    ).all():
        out.setdefault(flag.data_point_id, []).append(flag)
    return out


async def revisions_of(session: AsyncSession, point: DataPoint) -> list[DataPoint]:
    return list(
        (
            await session.scalars(
                select(DataPoint)
                .where(
                    DataPoint.object_id == point.object_id,
                    DataPoint.metric == point.metric,
                    DataPoint.period == point.period,
                    DataPoint.source == point.source,
                )
                .order_by(DataPoint.revision)
            )
        ).all()
    )


async def list_points(
    session: AsyncSession,
    *,
    principal: Principal,
    page: PageParams,
    object_id: uuid.UUID | None = None,
    metric: str | None = None,
    period: str | None = None,
    status: str | None = None,
    flagged: bool | None = None,
    ids: list[uuid.UUID] | None = None,
    current_only: bool = True,
    revisions_of_ids: list[uuid.UUID] | None = None,
) -> tuple[list[DataPoint], str | None]:
    require_role(principal, READERS | AUTHORITATIVE_SUBMITTERS, "read data")
    stmt = (
        select(DataPoint)
        .join(AppraisalObject, AppraisalObject.id == DataPoint.object_id)
        .join(OrgUnit, OrgUnit.id == AppraisalObject.org_unit_id)
        .where(in_subtree(OrgUnit.org_path, principal.org_path))
    )
    if current_only and ids is None and revisions_of_ids is None:
        stmt = stmt.where(DataPoint.current.is_(True))
    for column, value in (
        (DataPoint.object_id, object_id),
        (DataPoint.metric, metric),
        (DataPoint.period, period),
        (DataPoint.status, status),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if flagged is not None:
        has_open = select(DataFlag.id).where(DataFlag.data_point_id == DataPoint.id, DataFlag.status == "open").exists()
        stmt = stmt.where(has_open if flagged else ~has_open)
    if ids is not None:
        stmt = stmt.where(DataPoint.id.in_(ids))
    if revisions_of_ids is not None:
        # Every revision of the same value (object, metric, period, source) as each named point.
        anchor = aliased(DataPoint)
        same_value = select(anchor.id).where(
            anchor.id.in_(revisions_of_ids),
            anchor.object_id == DataPoint.object_id,
            anchor.metric == DataPoint.metric,
            anchor.period == DataPoint.period,
            anchor.source == DataPoint.source,
        )
        stmt = stmt.where(same_value.exists())
    if page.cursor is not None:
        stmt = stmt.where(DataPoint.id > page.cursor)
    found = list((await session.scalars(stmt.order_by(DataPoint.id).limit(page.limit + 1))).all())
    more = len(found) > page.limit
    found = found[: page.limit]
    return found, encode_cursor(found[-1].id) if more and found else None


# --- verification -------------------------------------------------------------------------


def _four_eyes(principal: Principal, point: DataPoint) -> None:
    if principal.subject == point.submitted_by:
        raise Forbidden("Nobody verifies or decides on a value they submitted themselves.")
    if path_within(principal.org_path, point.submitted_org_path):
        raise Forbidden("A member of the submitting unit cannot verify its values.")


async def _open_flags(session: AsyncSession, point_id: uuid.UUID) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(DataFlag)
            .where(DataFlag.data_point_id == point_id, DataFlag.status == "open")
        )
        or 0
    )


async def transition(
    session: AsyncSession,
    *,
    principal: Principal,
    point_id: uuid.UUID,
    to: str,
    reason: str | None,
    expected_version: int | None,
) -> DataPoint:
    point, _ = await load_point(session, principal=principal, point_id=point_id, for_update=True)
    if expected_version is not None:
        check_version(point.lock_version, expected_version)
    if not point.current:
        raise Conflict(f"Revision {point.revision} has been replaced by a newer one; act on the current revision.")
    now = utcnow()
    previous = point.status
    if to == "verified":
        require_role(principal, VERIFIERS, "verify data")
        _expect(point, {"submitted"}, to)
        _four_eyes(principal, point)
        point.verified_by, point.verified_at = principal.subject, now
    elif to == "accepted":
        require_role(principal, DECIDERS, "accept data")
        _expect(point, {"verified"}, to)
        _four_eyes(principal, point)
        open_flags = await _open_flags(session, point.id)
        if open_flags:
            raise Conflict(f"The value has {open_flags} open flag(s); resolve them with a note before accepting.")
        point.decided_by, point.decided_at = principal.subject, now
    else:
        require_role(principal, REJECTERS, "reject data")
        _expect(point, {"submitted", "verified"}, to)
        _four_eyes(principal, point)
        if not reason:
            raise Unprocessable("Say why the value is rejected.", errors=[{"field": "reason", "message": "required"}])
        point.decided_by, point.decided_at, point.reject_reason = principal.subject, now, reason
    point.status = to
    point.lock_version += 1
    await session.flush()
    await audit.record(
        session, principal, f"data_point.{to}", "data_point", point.id, {"from": previous, "to": to, "reason": reason}
    )
    return point


def _expect(point: DataPoint, states: set[str], to: str) -> None:
    if point.status not in states:
        raise Conflict(
            f"A {point.status} value cannot become {to}; only from {', '.join(sorted(states))}.",
            errors=[{"field": "to", "message": f"not allowed from {point.status}"}],
        )


async def raise_flag(session: AsyncSession, *, principal: Principal, point_id: uuid.UUID, note: str) -> DataFlag:
    require_role(principal, FLAGGERS, "flag data")
    point, _ = await load_point(session, principal=principal, point_id=point_id, for_update=True)
    if not point.current or point.status in ("rejected", "superseded"):
        raise Conflict("Only the current, undecided or accepted revision can be flagged.")
    existing = await session.scalar(
        select(DataFlag).where(DataFlag.data_point_id == point.id, DataFlag.rule == "manual", DataFlag.status == "open")
    )
    if existing is not None:
        raise Conflict("This value already has an open manual flag.")
    flag = DataFlag(
        id=new_id(),
        data_point_id=point.id,
        rule="manual",
        details={"rule": "manual", "note": note},
        status="open",
        raised_by=principal.subject,
    )
    session.add(flag)
    await session.flush()
    await audit.record(
        session, principal, "data_point.flagged", "data_point", point.id, {"flag_id": flag.id, "note": note}
    )
    return flag


async def resolve_flag(session: AsyncSession, *, principal: Principal, flag_id: uuid.UUID, note: str) -> DataFlag:
    require_role(principal, FLAG_RESOLVERS | FLAGGERS, "resolve flags")
    flag = await session.scalar(select(DataFlag).where(DataFlag.id == flag_id).with_for_update())
    if flag is None:
        raise NotFound("No such flag.")
    await load_point(session, principal=principal, point_id=flag.data_point_id)
    if flag.status != "open":
        raise Conflict("The flag is resolved already.")
    flag.status, flag.resolved_by, flag.resolved_at, flag.resolution_note = (
        "resolved",
        principal.subject,
        utcnow(),
        note,
    )
    await session.flush()
    await audit.record(
        session,
        principal,
        "flag.resolved",
        "data_point",
        flag.data_point_id,
        {"flag_id": flag.id, "rule": flag.rule, "note": note},
    )
    return flag


# --- evidence -----------------------------------------------------------------------------


async def upload_evidence(
    session: AsyncSession, *, principal: Principal, store: EvidenceStore, data: bytes, media_type: str, name: str
) -> EvidenceFile:
    require_role(principal, SUBMITTERS | AUTHORITATIVE_SUBMITTERS, "upload evidence")
    stored = await store.put(data, media_type)
    existing = await session.get(EvidenceFile, stored.sha256)
    if existing is not None:
        return existing
    evidence = EvidenceFile(
        sha256=stored.sha256,
        name=name,
        size=stored.size,
        media_type=stored.media_type,
        uploaded_by=principal.subject,
        uploaded_org_path=principal.org_path,
    )
    session.add(evidence)
    await session.flush()
    return evidence


async def evidence_for_download(session: AsyncSession, *, principal: Principal, sha256: str) -> EvidenceFile:
    """Readable by its uploader and by whoever may read a data point that cites it."""
    require_role(principal, READERS | AUTHORITATIVE_SUBMITTERS, "read evidence")
    evidence = await session.get(EvidenceFile, sha256)
    if evidence is None:
        raise NotFound("No such evidence file.")
    if evidence.uploaded_by == principal.subject:
        return evidence
    cited = await session.scalar(
        select(func.count())
        .select_from(DataPoint)
        .join(AppraisalObject, AppraisalObject.id == DataPoint.object_id)
        .join(OrgUnit, OrgUnit.id == AppraisalObject.org_unit_id)
        .where(DataPoint.evidence_sha256 == sha256, in_subtree(OrgUnit.org_path, principal.org_path))
    )
    if not cited:
        # Evidence of an objection: read by whoever reads objections on that object (the office rules on it).
        cited = await session.scalar(
            select(func.count())
            .select_from(Objection)
            .join(AppraisalObject, AppraisalObject.id == Objection.object_id)
            .join(OrgUnit, OrgUnit.id == AppraisalObject.org_unit_id)
            .where(literal(sha256) == any_(Objection.evidence_sha256), in_subtree(OrgUnit.org_path, principal.org_path))
        )
    if not cited:
        raise NotFound("No such evidence file.")
    return evidence


# --- per plan -----------------------------------------------------------------------------


async def plan_keys(session: AsyncSession, plan_id: uuid.UUID) -> tuple[str, set[tuple[str, str]]]:
    label = await session.scalar(select(Cycle.label).join(Plan, Plan.cycle_id == Cycle.id).where(Plan.id == plan_id))
    assert label is not None
    metrics = (
        await session.scalars(select(PlanLeaf.metric).where(PlanLeaf.plan_id == plan_id, PlanLeaf.kind.in_(DATA_KINDS)))
    ).all()
    return label, {(m, label) for m in metrics}


async def scan_plan(
    session: AsyncSession, *, principal: Principal, plan_id: uuid.UUID, tolerances: anomaly.Tolerances
) -> tuple[int, int]:
    await plans.load_writable(session, principal=principal, plan_id=plan_id)
    _, keys = await plan_keys(session, plan_id)
    return len(keys), await anomaly.scan(session, keys, tolerances)


async def collection_report(
    session: AsyncSession, *, principal: Principal, plan_id: uuid.UUID, page: PageParams
) -> tuple[Any, str, list[dict[str, Any]], str | None]:
    """Completeness and timeliness per object of the plan in your scope, set-based."""
    plan, _ = await plans.load(session, principal=principal, plan_id=plan_id)
    label, _ = await plan_keys(session, plan_id)
    after = (plan_id, page.cursor) if page.cursor is not None else None
    items, more = await _collection_rows(
        session, principal=principal, plan_ids=[plan_id], after=after, limit=page.limit
    )
    return plan, label, items, encode_cursor(items[-1]["object_id"]) if more and items else None


async def collection_of_plans(
    session: AsyncSession,
    *,
    principal: Principal,
    plan_ids: list[uuid.UUID],
    after: tuple[uuid.UUID, uuid.UUID] | None,
    limit: int,
) -> tuple[list[dict[str, Any]], tuple[uuid.UUID, uuid.UUID] | None]:
    """``collection_report`` of several plans at once (the gateway's batch read): plans the
    caller could not open one by one contribute nothing. Keyset over (plan, object)."""
    require_role(principal, READERS, "read plans")
    items, more = await _collection_rows(
        session, principal=principal, plan_ids=plan_ids, after=after, limit=limit, only_visible_plans=True
    )
    return items, (items[-1]["plan_id"], items[-1]["object_id"]) if more and items else None


async def _collection_rows(
    session: AsyncSession,
    *,
    principal: Principal,
    plan_ids: list[uuid.UUID],
    after: tuple[uuid.UUID, uuid.UUID] | None,
    limit: int,
    only_visible_plans: bool = False,
) -> tuple[list[dict[str, Any]], bool]:
    scope, params = _scope_sql("u.org_path", principal.org_path)
    owner_scope, owner_params = _scope_sql("ou.org_path", principal.org_path)
    owner_scope = owner_scope.replace(":scope", ":owner_scope")
    owner_params = {"owner_" + k: v for k, v in owner_params.items()}
    visible_plans = f"AND ({owner_scope} OR ou.org_path = ANY(:owner_above))" if only_visible_plans else ""
    after_sql = "AND (po.plan_id, po.object_id) > (:after_plan, :after_object)" if after is not None else ""
    rows = (
        await session.execute(
            text(
                f"""
                SELECT po.plan_id, po.object_id, u.org_path,
                       count(*) AS expected,
                       count(d.id) FILTER (WHERE d.status = 'submitted') AS submitted,
                       count(d.id) FILTER (WHERE d.status = 'verified') AS verified,
                       count(d.id) FILTER (WHERE d.status = 'accepted') AS accepted,
                       count(d.id) FILTER (WHERE d.status = 'rejected') AS rejected,
                       count(*) FILTER (WHERE d.id IS NULL) AS missing,
                       count(d.id) FILTER (WHERE d.submitted_at > p.submission_deadline) AS late,
                       count(d.id) AS received,
                       coalesce(sum(f.open), 0) AS open_flags
                  FROM appraisal.plan_object po
                  JOIN appraisal.plan p ON p.id = po.plan_id
                  JOIN appraisal.cycle c ON c.id = p.cycle_id
                  JOIN appraisal.org_unit ou ON ou.id = p.owner_unit_id
                  JOIN appraisal.appraisal_object o ON o.id = po.object_id
                  JOIN appraisal.org_unit u ON u.id = o.org_unit_id
                  JOIN appraisal.plan_leaf l ON l.plan_id = po.plan_id AND l.kind = ANY(:kinds)
                  LEFT JOIN appraisal.data_point d
                    ON d.current AND d.object_id = po.object_id AND d.metric = l.metric AND d.period = c.label
                   AND d.source = CASE WHEN l.kind = 'satisfaction' THEN 'survey' ELSE 'unit' END
                  LEFT JOIN LATERAL (
                    SELECT count(*) AS open FROM appraisal.data_flag df
                     WHERE df.data_point_id = d.id AND df.status = 'open'
                  ) f ON true
                 WHERE po.plan_id = ANY(:plans) AND {scope} {visible_plans} {after_sql}
                 GROUP BY po.plan_id, po.object_id, u.org_path
                 ORDER BY po.plan_id, po.object_id
                 LIMIT :limit
                """  # noqa: S608 - constants only; values are bound
            ),
            {
                **params,
                **(owner_params | {"owner_above": plans.ancestors(principal.org_path)} if only_visible_plans else {}),
                "kinds": list(DATA_KINDS),
                "plans": plan_ids,
                **({"after_plan": after[0], "after_object": after[1]} if after is not None else {}),
                "limit": limit + 1,
            },
        )
    ).all()
    more = len(rows) > limit
    items = []
    for r in rows[:limit]:
        items.append(
            {
                **{
                    k: getattr(r, k)
                    for k in (
                        "plan_id",
                        "object_id",
                        "org_path",
                        "expected",
                        "submitted",
                        "verified",
                        "accepted",
                        "rejected",
                        "missing",
                        "late",
                        "open_flags",
                    )
                },
                "completeness": (Decimal(r.accepted) / Decimal(r.expected)).quantize(Decimal("0.0001"))
                if r.expected
                else Decimal(0),
                "timeliness": (Decimal(r.received - r.late) / Decimal(r.received)).quantize(Decimal("0.0001"))
                if r.received
                else None,
            }
        )
    return items, more
