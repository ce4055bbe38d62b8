"""The anomaly rules of logic.py, set-based: one INSERT ... SELECT per rule over every current
data point of the given (metric, period) keys, so a bulk submission or a whole plan is checked in
four statements however many rows it has. Flags are idempotent (one open flag per rule and point)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.appraisal_svc.collection.logic import MAD_SCALE, MEAN_AD_SCALE


@dataclass(frozen=True)
class Tolerances:
    robust_z: float = 3.5
    min_peers: int = 5
    history: float = 0.5
    authoritative: float = 0.05


# :keys is a jsonb array of [metric, period] pairs.
KEYS = """keys AS (SELECT k->>0 AS metric, k->>1 AS period FROM jsonb_array_elements(CAST(:keys AS jsonb)) k)"""

ROBUST_Z = f"""
WITH {KEYS},
pool AS (
  SELECT d.id, d.metric, d.period, d.value::float8 AS value, o.peer_group
  FROM appraisal.data_point d
  JOIN keys k ON k.metric = d.metric AND k.period = d.period
  JOIN appraisal.appraisal_object o ON o.id = d.object_id
  WHERE d.current AND d.source = 'unit' AND d.status <> 'rejected'
),
med AS (
  SELECT metric, period, peer_group, count(*) AS peers,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY value) AS median
  FROM pool GROUP BY 1, 2, 3
),
spread AS (
  SELECT p.metric, p.period, p.peer_group, m.median, m.peers,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(p.value - m.median)) AS mad,
         avg(abs(p.value - m.median)) AS mean_ad
  FROM pool p JOIN med m USING (metric, period, peer_group)
  WHERE m.peers >= CAST(:min_peers AS int)
  GROUP BY 1, 2, 3, 4, 5
),
scored AS (
  SELECT p.id, p.value, s.median, s.mad, s.mean_ad, s.peers, s.peer_group,
         CASE WHEN s.mad > 0 THEN {MAD_SCALE} * (p.value - s.median) / s.mad
              WHEN s.mean_ad > 0 THEN (p.value - s.median) / ({MEAN_AD_SCALE} * s.mean_ad) END AS z
  FROM pool p JOIN spread s USING (metric, period, peer_group)
)
INSERT INTO appraisal.data_flag (id, data_point_id, rule, details, status, raised_by, raised_at)
SELECT gen_random_uuid(), id, 'robust_z',
       jsonb_build_object('rule', 'robust_z', 'value', value, 'peer_median', median, 'mad', mad,
                          'mean_absolute_deviation', mean_ad, 'z', round(z::numeric, 4),
                          'threshold', CAST(:threshold AS float8),
                          'peers', peers, 'peer_group', peer_group),
       'open', 'system', now()
FROM scored WHERE abs(z) > CAST(:threshold AS float8)
ON CONFLICT (data_point_id, rule) WHERE status = 'open' DO NOTHING
"""  # noqa: S608 - constants only; values are bound

# The previous period of the same series (object, metric, source, period format) by a window
# over the touched metrics: one sort instead of one index lookup per point.
HISTORY = f"""
WITH {KEYS},
metrics AS (SELECT DISTINCT metric FROM keys),
series AS (
  SELECT d.id, d.metric, d.period, d.value,
         lag(d.value) OVER w AS previous, lag(d.period) OVER w AS previous_period
  FROM appraisal.data_point d JOIN metrics m ON m.metric = d.metric
  WHERE d.current AND d.source = 'unit' AND d.status <> 'rejected'
  WINDOW w AS (PARTITION BY d.object_id, d.metric, length(d.period) ORDER BY d.period)
),
compared AS (
  SELECT s.* FROM series s JOIN keys k ON k.metric = s.metric AND k.period = s.period
  WHERE s.previous IS NOT NULL
)
INSERT INTO appraisal.data_flag (id, data_point_id, rule, details, status, raised_by, raised_at)
SELECT gen_random_uuid(), id, 'history',
       jsonb_build_object('rule', 'history', 'value', value, 'previous_value', previous,
                          'previous_period', previous_period,
                          'relative_change',
                          CASE WHEN previous <> 0 THEN round(abs(value - previous) / abs(previous), 6) END,
                          'tolerance', CAST(:tolerance AS float8)),
       'open', 'system', now()
FROM compared
WHERE CASE WHEN previous = 0 THEN value <> 0
           ELSE abs(value - previous) > CAST(:tolerance AS float8) * abs(previous) END
ON CONFLICT (data_point_id, rule) WHERE status = 'open' DO NOTHING
"""  # noqa: S608 - constants only; values are bound

AUTHORITATIVE = f"""
WITH {KEYS}
INSERT INTO appraisal.data_flag (id, data_point_id, rule, details, status, raised_by, raised_at)
SELECT gen_random_uuid(), u.id, 'authoritative',
       jsonb_build_object('rule', 'authoritative', 'value', u.value, 'authoritative_value', a.value,
                          'relative_difference',
                          CASE WHEN a.value <> 0 THEN round(abs(u.value - a.value) / abs(a.value), 6) END,
                          'tolerance', CAST(:tolerance AS float8)),
       'open', 'system', now()
FROM appraisal.data_point u
JOIN keys k ON k.metric = u.metric AND k.period = u.period
JOIN appraisal.data_point a
  ON a.current AND a.source = 'authoritative' AND a.status <> 'rejected'
 AND a.object_id = u.object_id AND a.metric = u.metric AND a.period = u.period
WHERE u.current AND u.source = 'unit' AND u.status <> 'rejected'
  AND CASE WHEN a.value = 0 THEN u.value <> 0
           ELSE abs(u.value - a.value) > CAST(:tolerance AS float8) * abs(a.value) END
ON CONFLICT (data_point_id, rule) WHERE status = 'open' DO NOTHING
"""  # noqa: S608 - constants only; values are bound

# Late against every open plan that expects the point: plan objects x leaf metrics x cycle label.
LATE = f"""
WITH {KEYS}
INSERT INTO appraisal.data_flag (id, data_point_id, rule, details, status, raised_by, raised_at)
SELECT gen_random_uuid(), d.id, 'late',
       jsonb_build_object('rule', 'late', 'submitted_at', min(d.submitted_at), 'deadline', min(p.submission_deadline),
                          'plan_id', (array_agg(p.id ORDER BY p.submission_deadline))[1]),
       'open', 'system', now()
FROM appraisal.data_point d
JOIN keys k ON k.metric = d.metric AND k.period = d.period
JOIN appraisal.plan_object po ON po.object_id = d.object_id
JOIN appraisal.plan p ON p.id = po.plan_id AND p.status <> 'draft'
JOIN appraisal.cycle c ON c.id = p.cycle_id AND c.label = d.period
JOIN appraisal.plan_leaf l ON l.plan_id = p.id AND l.metric = d.metric
WHERE d.current AND d.source = 'unit' AND d.submitted_at > p.submission_deadline
GROUP BY d.id
ON CONFLICT (data_point_id, rule) WHERE status = 'open' DO NOTHING
"""  # noqa: S608 - constants only; values are bound


async def scan(session: AsyncSession, keys: set[tuple[str, str]], tolerances: Tolerances) -> int:
    """Raise every flag the rules find among the current points of ``keys``; returns how many are new."""
    if not keys:
        return 0
    payload = json.dumps(sorted(keys))
    raised = 0
    # Rows written in this very transaction have no statistics yet, so the planner would guess
    # "one row" and nest loops over whole groups; these rules want hash joins and sorts.
    statements: tuple[tuple[str, dict[str, object]], ...] = (
        (ROBUST_Z, {"threshold": tolerances.robust_z, "min_peers": tolerances.min_peers}),
        (HISTORY, {"tolerance": tolerances.history}),
        (AUTHORITATIVE, {"tolerance": tolerances.authoritative}),
        (LATE, {}),
    )
    await session.execute(text("SET LOCAL enable_nestloop = off"))
    for sql, params in statements:
        result = await session.execute(text(sql), {"keys": payload, **params})
        raised += result.rowcount or 0  # type: ignore[attr-defined]
    await session.execute(text("SET LOCAL enable_nestloop = on"))
    return raised
