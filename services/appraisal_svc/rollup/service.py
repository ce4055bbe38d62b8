"""Roll-ups of annual and term plans from their sub-cycles' published results, and peacetime
monitoring of a collecting plan. Both are reads computed set-based in SQL, one page at a time."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.appraisal_svc.access import READERS, require_role
from services.appraisal_svc.collection.service import _scope_sql
from services.appraisal_svc.cycle.models import Cycle
from services.appraisal_svc.framework.models import FrameworkVersion
from services.appraisal_svc.plan import service as plans
from services.appraisal_svc.rollup import logic
from services.appraisal_svc.rollup.schemas import MonitoringPage, MonitoringRow, RollupPage, RollupRow, RollupRule
from shared.auth.principal import Principal
from shared.errors import BadRequest, Conflict
from shared.pagination import encode_cursor


async def rollup(
    session: AsyncSession, *, principal: Principal, plan_id: uuid.UUID, limit: int, after: uuid.UUID | None
) -> RollupPage:
    """Per object of the plan in the caller's scope: the composite of each sub-cycle's published
    plan of the same framework lineage, the rolled-up composite and the sub-cycles missing."""
    plan, _ = await plans.load(session, principal=principal, plan_id=plan_id)
    if plan.rollup is None:
        raise Conflict("The plan states no roll-up rule; set `rollup` while it is a draft.")
    rule = RollupRule.model_validate(plan.rollup)
    lineage = await session.scalar(select(FrameworkVersion.lineage_id).where(FrameworkVersion.id == plan.framework_id))
    labels = list(
        (await session.scalars(select(Cycle.label).where(Cycle.parent_id == plan.cycle_id).order_by(Cycle.label))).all()
    )
    scope, scope_params = _scope_sql("u.org_path", principal.org_path)
    weights = {k: str(v) for k, v in (rule.weights or {}).items()}
    rows = (
        await session.execute(
            text(
                f"""
                WITH page AS (
                  SELECT po.object_id
                    FROM appraisal.plan_object po
                    JOIN appraisal.appraisal_object o ON o.id = po.object_id
                    JOIN appraisal.org_unit u ON u.id = o.org_unit_id
                   WHERE po.plan_id = :plan AND {scope}
                     AND (CAST(:after AS uuid) IS NULL OR po.object_id > CAST(:after AS uuid))
                   ORDER BY po.object_id LIMIT :limit
                ),
                published AS (
                  -- One published plan per sub-cycle and object: the latest published, should there be several.
                  SELECT DISTINCT ON (c.id, r.object_id)
                         c.id AS cycle_id, c.label, p.id AS plan_id, r.run_id, r.object_id, r.composite
                    FROM appraisal.cycle c
                    JOIN appraisal.plan p ON p.cycle_id = c.id AND p.status = 'published'
                                         AND p.published_run_id IS NOT NULL
                    JOIN appraisal.framework_version f ON f.id = p.framework_id AND f.lineage_id = :lineage
                    JOIN appraisal.result r ON r.run_id = p.published_run_id
                   WHERE c.parent_id = :cycle AND r.object_id IN (SELECT object_id FROM page)
                   ORDER BY c.id, r.object_id, p.published_at DESC, p.id DESC
                ),
                weighted AS (
                  SELECT pub.*,
                         CASE WHEN :method = 'mean' THEN 1::numeric
                              ELSE COALESCE(CAST(CAST(:weights AS jsonb) ->> pub.label AS numeric), 0) END AS weight
                    FROM published pub
                )
                SELECT pg.object_id,
                       COALESCE(jsonb_agg(jsonb_build_object(
                                  'cycle_id', w.cycle_id, 'label', w.label, 'plan_id', w.plan_id,
                                  'run_id', w.run_id, 'composite', w.composite, 'weight', w.weight)
                                ORDER BY w.label) FILTER (WHERE w.object_id IS NOT NULL), '[]') AS sub_cycles,
                       round(CAST(sum(w.composite * w.weight) AS numeric(60, 40)) / NULLIF(sum(w.weight), 0),
                             :places) AS composite
                  FROM page pg LEFT JOIN weighted w ON w.object_id = pg.object_id
                 GROUP BY pg.object_id
                 ORDER BY pg.object_id
                """  # noqa: S608 - constants only; values are bound
            ),
            {
                **scope_params,
                "plan": plan.id,
                "after": after,
                "limit": limit + 1,
                "lineage": lineage,
                "cycle": plan.cycle_id,
                "method": rule.method,
                "weights": json.dumps(weights),
                "places": plan.score_places,
            },
        )
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = []
    for r in rows:
        found = r.sub_cycles if isinstance(r.sub_cycles, list) else json.loads(r.sub_cycles)
        present = {s["label"] for s in found}
        items.append(
            RollupRow(
                object_id=r.object_id,
                sub_cycles=found,
                missing=[label for label in labels if label not in present],
                composite=r.composite,
            )
        )
    return RollupPage(
        items=items,
        next_cursor=encode_cursor(rows[-1].object_id) if more and rows else None,
        method=rule.method,
        sub_cycle_labels=labels,
        score_places=plan.score_places,
    )


# Objects per monitoring statement: with tens of leaves, a few thousand cells each.
MONITORING_CHUNK_OBJECTS = 200
_MONITORING_CHUNK_END = text(
    """
    SELECT object_id FROM (
      SELECT object_id FROM appraisal.plan_object
       WHERE plan_id = :plan
         AND (CAST(:after AS uuid) IS NULL OR object_id > CAST(:after AS uuid)
              OR (CAST(:inclusive AS boolean) AND object_id = CAST(:after AS uuid)))
       ORDER BY object_id LIMIT :chunk
    ) chunk ORDER BY object_id DESC LIMIT 1
    """
)


def _monitoring_statement(scope: str) -> Any:
    return text(
        f"""
        SELECT object_id, indicator_code, method, direction, value, data_point_id, target, baseline,
               round(attainment, :shown) AS attainment, round(:elapsed - attainment, :shown) AS lag
          FROM (
            SELECT j.*, greatest(0, least(j.raw, j.cap)) AS attainment
              FROM (
                SELECT po.object_id, l.indicator_code, l.method, l.direction, t.target, t.baseline, l.cap,
                       v.value, v.id AS data_point_id,
                       CASE
                         WHEN l.method = 'target_ratio' AND l.direction = 'lower_better' THEN
                           CASE WHEN l.zero_point IS NULL OR l.zero_point <= t.target THEN NULL
                                WHEN v.value IS NULL THEN 0
                                ELSE CAST(l.zero_point - v.value AS numeric(60, 40)) / (l.zero_point - t.target) END
                         WHEN l.method = 'target_ratio' THEN
                           CASE WHEN t.target <= 0 THEN NULL
                                WHEN v.value IS NULL THEN 0
                                ELSE CAST(v.value AS numeric(60, 40)) / t.target END
                         ELSE
                           CASE WHEN f.floor IS NULL OR f.floor = t.target THEN NULL
                                WHEN v.value IS NULL THEN 0
                                ELSE CAST(v.value - f.floor AS numeric(60, 40)) / (t.target - f.floor) END
                       END AS raw
                  FROM appraisal.plan_object po
                  JOIN appraisal.appraisal_object o ON o.id = po.object_id
                  JOIN appraisal.org_unit u ON u.id = o.org_unit_id
                  CROSS JOIN (
                    SELECT indicator_code, metric, method, direction, scoring ->> 'floor_from' AS floor_from,
                           CAST(scoring ->> 'floor' AS numeric) AS fixed_floor,
                           CAST(scoring ->> 'zero_point' AS numeric) AS zero_point,
                           COALESCE(CAST(scoring ->> 'cap' AS numeric), 1) AS cap
                      FROM appraisal.plan_leaf
                     WHERE plan_id = :plan AND kind = 'quantitative' AND method IN ('target_ratio', 'linear')
                  ) l
                  JOIN appraisal.target t ON t.plan_id = po.plan_id AND t.object_id = po.object_id
                                         AND t.indicator_code = l.indicator_code
                  CROSS JOIN LATERAL (
                    SELECT CASE WHEN l.floor_from = 'baseline' THEN t.baseline ELSE l.fixed_floor END AS floor
                  ) f
                  LEFT JOIN LATERAL (
                    -- The latest accepted revision; authoritative > survey > unit.
                    SELECT d.value, d.id
                      FROM appraisal.data_point d
                     WHERE d.object_id = po.object_id AND d.metric = l.metric AND d.period = :period
                       AND d.status = 'accepted'
                     ORDER BY CASE d.source WHEN 'authoritative' THEN 0 WHEN 'survey' THEN 1 ELSE 2 END,
                              d.revision DESC
                     LIMIT 1
                  ) v ON true
                 WHERE po.plan_id = :plan AND {scope} AND po.object_id <= :chunk_end
                   AND (CAST(:after_object AS uuid) IS NULL OR po.object_id > CAST(:after_object AS uuid)
                        OR (po.object_id = CAST(:after_object AS uuid)
                            AND l.indicator_code > CAST(:after_code AS text)))
              ) j
             WHERE j.raw IS NOT NULL
          ) judged
         WHERE :elapsed - attainment > :tolerance
         ORDER BY object_id, indicator_code
         LIMIT :limit
        """  # noqa: S608 - constants only; values are bound
    )


async def monitoring(
    session: AsyncSession,
    *,
    principal: Principal,
    plan_id: uuid.UUID,
    tolerance: Decimal,
    as_of: dt.date,
    limit: int,
    after: tuple[uuid.UUID, str] | None,
) -> MonitoringPage:
    """The quantitative leaves of a collecting plan whose progress lags the time elapsed."""
    plan, _ = await plans.load(session, principal=principal, plan_id=plan_id)
    require_role(principal, READERS, "monitor plans")
    if plan.status != "collecting":
        raise Conflict(f"The plan is {plan.status}; monitoring follows a plan while it is collecting.")
    cycle = await session.get(Cycle, plan.cycle_id)
    assert cycle is not None
    elapsed = logic.elapsed_share(cycle.starts_on, cycle.ends_on, as_of)
    scope, scope_params = _scope_sql("u.org_path", principal.org_path)
    statement = _monitoring_statement(scope)
    # The plan's objects in id order, a chunk per statement, until the page is full: in one
    # statement the planner scores every cell of the plan to sort them where a page needs a few.
    rows: list[Any] = []
    after_object, after_code = after if after else (None, None)
    while len(rows) <= limit:
        chunk_end = await session.scalar(
            _MONITORING_CHUNK_END,
            {
                "plan": plan.id,
                "after": after_object,
                "inclusive": after_code is not None,  # the cursor's object may have leaves left
                "chunk": MONITORING_CHUNK_OBJECTS,
            },
        )
        if chunk_end is None:
            break
        params = {
            **scope_params,
            "plan": plan.id,
            "period": cycle.label,
            "elapsed": elapsed,
            "tolerance": tolerance,
            "shown": logic.SHOWN_PLACES,
            "after_object": after_object,
            "after_code": after_code,
            "chunk_end": chunk_end,
            "limit": limit + 1 - len(rows),
        }
        rows += (await session.execute(statement, params)).all()
        after_object, after_code = chunk_end, None  # the whole chunk is behind us
    more = len(rows) > limit
    rows = rows[:limit]
    last: Any = rows[-1] if more and rows else None
    return MonitoringPage(
        items=[MonitoringRow.model_validate(r._asdict()) for r in rows],
        next_cursor=encode_pair(last.object_id, last.indicator_code) if last is not None else None,
        as_of=as_of,
        elapsed_share=logic.round_half_up(elapsed, logic.SHOWN_PLACES),
        tolerance=tolerance,
    )


def encode_pair(object_id: uuid.UUID, code: str) -> str:
    return base64.urlsafe_b64encode(object_id.bytes + code.encode()).rstrip(b"=").decode()


def decode_pair(cursor: str) -> tuple[uuid.UUID, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if len(raw) < 17:
            raise ValueError(cursor)
        return uuid.UUID(bytes=raw[:16]), raw[16:].decode()
    except (binascii.Error, ValueError):
        raise BadRequest(
            "The cursor is not valid.", errors=[{"field": "cursor", "message": "not a cursor from this API"}]
        ) from None
