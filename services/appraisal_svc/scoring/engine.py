"""The set-based scoring engine: SQL in PostgreSQL on ``numeric`` (docs/scoring.md).

A run reads every accepted current value of the plan's objects for the plan's period (one value
per object and metric: authoritative > survey > unit), the targets, the latest expert rating per
assignment and the veto events not withdrawn; scores every leaf by its method; rolls up per
evaluation subject, composite, grade, veto, quota and rank; and writes ``result_object_leaves``
(a row per object, its leaf lines in arrays), ``result_subject`` and ``result`` with INSERT ...
SELECT. No leaf line passes through Python.

The leaf pass (a million lines for 10,000 objects x 100 leaves) and the subject scores, which
depend on one object each, are one backend's work per range of objects: the job worker runs them on
``PARTS`` connections at once, each taking ranges from a queue (``score(parts=...)``,
``range_sizes``), and only one row per object comes back to the run's own transaction for what
needs every object (composite, grade, quota, rank) and the hashes. While the parts score, the run's
own transaction ranks every object once (each part waits for its range's positions after choosing
its values), spells the input lines that need no part and gathers each scored range's object rows,
so that the roll-up and the hashes (about 0.5 s) are all that is left when the parts finish. Both
cores are busy from the first statement to the last range: the run's time is its CPU time over two.
Ranks and object rows cross the client as one text per range, never as rows of Python objects.
Per 515,000 leaf lines on the 2-core
reference machine, one part alone (07:55-08:05 UTC 2026-11-29): choosing values and targets 1.6-2.7
s, then one statement of 3.7-5.5 s (joins, formulas, sorting the lines per object, the per-object
aggregate, both digests from its arrays and writing 5,000 rows); 6.8-9.8 s in all. Both parts at
once take about 1.15 times one part: the two vCPUs share cache and memory bandwidth. The machine's
speed drifts by up to 2x within minutes.

Exactness: a share is the rational num / den. Shares and sums are never rounded; the numbers the
rule book rounds (marks earned, subject scores, contributions) are one division of an exact
dividend cast to numeric(60,40), then ``round(round(x, 32), places)`` (the rule book's
``round_score``; half away from zero, which is half up on these non-negative numbers). Stored
shares keep 40 places.

Hashes (docs/scoring.md, "Reproducibility", hash rules 2; ``contracts.scoring`` recomputes
``results_hash`` from the published rows): the leaf pass hashes each object's leaf and input
columns from the arrays it writes; what is left at the end is one line per object.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from itertools import accumulate
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from contracts.scoring import HASH_RULES

Report = Callable[[float], Awaitable[None]]

# A 1,000,000-value plan sorts and hashes in memory with this much per sort or hash node.
WORK_MEM = "256MB"


@dataclass(frozen=True)
class PlanInputs:
    """The plan's own parameters, read once before the set-based pass."""

    plan_id: uuid.UUID
    period: str
    score_places: int
    missing_rule: str
    total_points: Decimal
    bonus_cap: Decimal
    subject_weights: dict[str, Decimal]
    grades: list[tuple[str, Decimal]]  # best first
    top_grade_quota: Decimal | None


@dataclass
class RunFigures:
    object_count: int = 0
    value_count: int = 0
    inputs_hash: str = ""
    results_hash: str = ""
    hash_rules: int = HASH_RULES
    timings: dict[str, float] = field(default_factory=dict)


async def plan_inputs(session: AsyncSession, plan_id: uuid.UUID) -> PlanInputs:
    row = (
        await session.execute(
            text(
                """
                SELECT c.label AS period, p.score_places, p.missing_rule, p.bonus_cap, p.subject_weights,
                       p.grade_scheme, (f.snapshot ->> 'total_points')::numeric AS total_points
                FROM appraisal.plan p
                JOIN appraisal.cycle c ON c.id = p.cycle_id
                JOIN appraisal.framework_version f ON f.id = p.framework_id
                WHERE p.id = :plan_id
                """
            ),
            {"plan_id": plan_id},
        )
    ).one()
    scheme = row.grade_scheme
    quota = scheme.get("top_grade_quota")
    return PlanInputs(
        plan_id=plan_id,
        period=row.period,
        score_places=row.score_places,
        missing_rule=row.missing_rule,
        total_points=row.total_points,
        bonus_cap=row.bonus_cap if row.bonus_cap is not None else row.total_points,
        subject_weights={k: Decimal(str(v)) for k, v in row.subject_weights.items()},
        grades=[(g["grade"], Decimal(str(g["min_score"]))) for g in scheme["grades"]],
        top_grade_quota=Decimal(str(quota)) if quota is not None else None,
    )


# One row per leaf with its parameters typed, so the 1,000,000-row pass never parses JSON.
RULES = """
CREATE TEMP TABLE sc_rule ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY l.indicator_code COLLATE "C")::int AS ord,
       l.indicator_code, l.metric, l.method, l.direction, l.weight AS marks,
       -- The formula a leaf's rows take, as a small integer: the leaf pass branches on it once per
       -- row instead of comparing method and direction names (NULL: no formula, the leaf is missing).
       CASE WHEN l.method = 'target_ratio' AND l.direction = 'higher_better' THEN 1
            WHEN l.method = 'target_ratio' AND l.direction = 'lower_better' THEN 2
            WHEN l.method = 'linear' AND l.direction = 'higher_better' THEN 3
            WHEN l.method = 'linear' AND l.direction = 'lower_better' THEN 4
            WHEN l.method = 'bands' AND l.direction = 'lower_better' THEN 5
            WHEN l.method = 'bands' AND l.direction IN ('higher_better', 'target_band') THEN 6
            WHEN l.method = 'rank' THEN 7
            WHEN l.method = 'grade' THEN 8
            WHEN l.method = 'satisfaction' THEN 9
            WHEN l.method = 'bonus' THEN 10
            WHEN l.method = 'deduction' THEN 11
            WHEN l.method = 'veto' THEN 12 END AS kind,
       CASE WHEN l.method IN ('bonus', 'deduction', 'veto') OR cardinality(l.evaluation_subjects) = 0
            THEN ARRAY['']::text[]
            -- in byte order, so that the leaf rows come in the order the hashes read them
            ELSE ARRAY(SELECT x FROM unnest(l.evaluation_subjects) AS u(x) ORDER BY x COLLATE "C") END AS subjects,
       CASE WHEN l.method IN ('target_ratio', 'linear') THEN coalesce((l.scoring ->> 'cap')::numeric, 1)
            ELSE 1 END AS cap,
       (l.scoring ->> 'zero_point')::numeric AS zero_point,
       (l.scoring ->> 'floor')::numeric AS floor_value,
       coalesce(l.scoring ->> 'floor_from', 'value') AS floor_from,
       (SELECT array_agg((b ->> 'threshold')::numeric ORDER BY ord)
          FROM jsonb_array_elements(CASE WHEN l.method = 'bands' THEN l.scoring -> 'bands' END)
               WITH ORDINALITY AS e(b, ord)) AS band_thresholds,
       (SELECT array_agg((b ->> 'share')::numeric ORDER BY ord)
          FROM jsonb_array_elements(CASE WHEN l.method = 'bands' THEN l.scoring -> 'bands' END)
               WITH ORDINALITY AS e(b, ord)) AS band_shares,
       coalesce((l.scoring ->> 'floor_share')::numeric, 0.6) AS floor_share,
       CASE WHEN l.method = 'grade' THEN l.scoring -> 'shares' END AS grade_shares,
       coalesce((l.scoring ->> 'trim_share')::numeric, 0.1) AS trim_share,
       coalesce((l.scoring ->> 'min_raters')::int, 1) AS min_raters,
       coalesce((l.scoring ->> 'zero_index')::numeric, 0) AS zero_index,
       coalesce((l.scoring ->> 'full_index')::numeric, 100) AS full_index,
       (l.scoring ->> 'per_item')::numeric AS per_item,
       (l.scoring ->> 'cap')::numeric AS amount_cap,
       CASE WHEN l.method = 'veto' THEN ARRAY(SELECT jsonb_array_elements_text(l.scoring -> 'events')) END
           AS veto_codes,
       CASE WHEN l.method = 'veto' THEN l.scoring ->> 'cap_grade' END AS cap_grade
FROM appraisal.plan_leaf l
WHERE l.plan_id = :plan_id
"""

# One row per (object, leaf): the value that counts, its target and baseline. The value that counts
# is the accepted current value of the period from the best source, authoritative > survey > unit,
# which is also the names' byte order (``SOURCE_PRECEDENCE`` in logic.py; a unit test holds them
# together): the rows come in that order from the unique index on (object, metric, period, source)
# of current values, so DISTINCT ON keeps the first of each group without sorting a million values.
# The plan's metrics come as an array parameter (a hashed membership test); objects outside the plan
# drop out below. No ORDER BY: no result depends on the order of these rows, since every aggregate
# below states its own.
BASE = """
CREATE TEMP TABLE sc_base ON COMMIT DROP AS
WITH chosen AS (
    SELECT DISTINCT ON (dp.object_id, dp.metric) dp.object_id, dp.metric, dp.value, dp.id
    FROM appraisal.data_point dp
    WHERE dp.current AND dp.status = 'accepted' AND dp.period = :period
      AND dp.metric = ANY (CAST(:metrics AS text[]))
      AND dp.object_id BETWEEN CAST(:lo AS uuid) AND CAST(:hi AS uuid)
    ORDER BY dp.object_id, dp.metric, dp.source
)
SELECT po.object_id, po.peer_group, r.ord, r.indicator_code, v.value, v.id AS data_point_id, t.target, t.baseline,
       -- what a linear leaf counts from, and the band a value reaches: the leaf pass's formulas read them
       CASE r.floor_from WHEN 'baseline' THEN t.baseline ELSE r.floor_value END AS floor_at,
       CASE WHEN r.kind IN (5, 6) THEN width_bucket(v.value, r.band_thresholds) END AS reached
FROM appraisal.plan_object po
CROSS JOIN sc_rule r
LEFT JOIN chosen v ON v.object_id = po.object_id AND v.metric = r.metric
LEFT JOIN (SELECT * FROM appraisal.target
           WHERE plan_id = :plan_id AND object_id BETWEEN CAST(:lo AS uuid) AND CAST(:hi AS uuid)) t
       ON t.object_id = po.object_id AND t.indicator_code = r.indicator_code
WHERE po.plan_id = :plan_id AND po.object_id BETWEEN CAST(:lo AS uuid) AND CAST(:hi AS uuid)
"""

# Competition positions among all the plan's objects of a peer group, read from the values
# themselves: a part of a parallel run holds only its own objects in sc_base. The value that counts
# is chosen as in BASE; objects without a value take no position. The plan's objects are hashed
# (MATERIALIZED), not probed once per value, and each direction sorts by the value itself.
RANKS = """
CREATE TEMP TABLE sc_rank ON COMMIT DROP AS
WITH chosen AS (
    SELECT DISTINCT ON (dp.object_id, dp.metric) dp.object_id, dp.metric, dp.value
    FROM appraisal.data_point dp
    WHERE dp.current AND dp.status = 'accepted' AND dp.period = :period
      AND dp.metric = ANY (CAST(:metrics AS text[]))
    ORDER BY dp.object_id, dp.metric, dp.source
), peers AS MATERIALIZED (
    SELECT object_id, peer_group FROM appraisal.plan_object WHERE plan_id = :plan_id
), valued AS (
    SELECT v.object_id, r.indicator_code, po.peer_group, v.value, r.direction
    FROM chosen v
    JOIN sc_rule r ON r.metric = v.metric AND r.kind = 7
    JOIN peers po ON po.object_id = v.object_id
    WHERE v.value IS NOT NULL
), ranked AS (
    SELECT object_id, indicator_code,
           rank() OVER (PARTITION BY indicator_code, peer_group ORDER BY value DESC) AS position,
           count(*) OVER (PARTITION BY indicator_code, peer_group) AS peers
    FROM valued WHERE direction = 'higher_better'
    UNION ALL
    SELECT object_id, indicator_code,
           rank() OVER (PARTITION BY indicator_code, peer_group ORDER BY value) AS position,
           count(*) OVER (PARTITION BY indicator_code, peer_group) AS peers
    FROM valued WHERE direction = 'lower_better'
)
SELECT * FROM ranked WHERE object_id BETWEEN CAST(:lo AS uuid) AND CAST(:hi AS uuid)
"""

# A range's rows of sc_rank as one text, a line per row (object id, the leaf's sc_rule.ord, position,
# peers: tokens without commas or line breaks), and a part's sc_rank read from it: a parallel run
# ranks once, in the run's own transaction while the parts choose their values, instead of once in
# every part. One string per range crosses the client instead of four arrays of 10^4-10^5 elements.
RANGE_RANKS = """
SELECT string_agg(concat_ws(',', k.object_id, r.ord, k.position, k.peers), E'\\n')
FROM sc_rank k JOIN sc_rule r ON r.indicator_code = k.indicator_code
WHERE k.object_id BETWEEN CAST(:lo AS uuid) AND CAST(:hi AS uuid)
"""
GIVEN_RANKS = """
CREATE TEMP TABLE sc_rank ON COMMIT DROP AS
SELECT split_part(k.line, ',', 1)::uuid AS object_id, r.indicator_code, split_part(k.line, ',', 3)::bigint AS position,
       split_part(k.line, ',', 4)::bigint AS peers
FROM string_to_table(CAST(:ranks AS text), E'\\n') AS k(line)
JOIN sc_rule r ON r.ord = split_part(k.line, ',', 2)::int
"""

# Per (object, grade leaf, subject): the trimmed sum and count of the latest ratings' shares.
GRADES = """
CREATE TEMP TABLE sc_grade ON COMMIT DROP AS
WITH latest AS (
    SELECT DISTINCT ON (er.assignment_id) er.assignment_id, er.object_id, er.indicator_code, er.subject, er.grade
    FROM appraisal.expert_rating er
    WHERE er.plan_id = :plan_id AND er.object_id BETWEEN CAST(:lo AS uuid) AND CAST(:hi AS uuid)
    ORDER BY er.assignment_id, er.rated_at DESC
), mapped AS (
    SELECT l.object_id, l.indicator_code, l.subject, (r.grade_shares ->> l.grade)::numeric AS share,
           r.trim_share
    FROM latest l
    JOIN sc_rule r ON r.indicator_code = l.indicator_code AND r.method = 'grade'
    JOIN appraisal.plan_object po ON po.plan_id = :plan_id AND po.object_id = l.object_id
    WHERE l.subject = ANY (r.subjects) AND (r.grade_shares ->> l.grade) IS NOT NULL
), ordered AS (
    SELECT m.*, row_number() OVER w AS pos, count(*) OVER (PARTITION BY object_id, indicator_code, subject) AS n
    FROM mapped m
    WINDOW w AS (PARTITION BY object_id, indicator_code, subject ORDER BY share)
)
SELECT object_id, indicator_code, subject, max(n) AS ratings,
       sum(share) FILTER (WHERE pos > floor(n * trim_share) AND pos <= n - floor(n * trim_share)) AS kept_sum,
       count(*) FILTER (WHERE pos > floor(n * trim_share) AND pos <= n - floor(n * trim_share)) AS kept
FROM ordered
GROUP BY object_id, indicator_code, subject
"""

# Each leaf once per subject it is written for, and the positions of rank leaves and trimmed
# ratings of grade leaves in one small table: tables with statistics (ANALYZE), so that the leaf
# pass hashes these small sides and streams the million base rows through in their order.
RULE_SUBJECTS = """
CREATE TEMP TABLE sc_rule_subject ON COMMIT DROP AS
SELECT r.*, s.subject, s.n::int AS subject_ord, s.n = 1 AS first_subject,
       -- the subject's number among the plan's weighted subjects, sorted (:subjects); NULL for a line
       -- that counts for none (bonus, deduction, veto): the leaf pass sums by it
       CASE WHEN r.kind IS NULL OR r.kind < 10 THEN array_position(CAST(:subjects AS text[]), s.subject) END
           AS weighted_ord
FROM sc_rule r CROSS JOIN LATERAL unnest(r.subjects) WITH ORDINALITY AS s(subject, n)
"""

EXTRAS = """
CREATE TEMP TABLE sc_extra ON COMMIT DROP AS
SELECT k.object_id, k.indicator_code, rs.subject, k.position, k.peers, NULL::bigint AS ratings,
       NULL::numeric AS kept_sum, NULL::bigint AS kept
FROM sc_rank k JOIN sc_rule_subject rs ON rs.indicator_code = k.indicator_code
UNION ALL
SELECT g.object_id, g.indicator_code, g.subject, NULL, NULL, g.ratings, g.kept_sum, g.kept
FROM sc_grade g
"""

# Every leaf of every object for every subject it counts for, scored as num / den (NULL: missing),
# clamped to [0, cap]; then one aggregate per object over its lines in (indicator code, subject)
# order: the arrays of its result_object_leaves row and the sums the roll-up needs (marks and
# earned per weighted subject, in the plan's subjects' sorted order; bonus, deduction and values
# read); both digests then read the arrays, a column at a time.
# Objects are aggregated in one pass over the scored lines, which are never stored line by line.
LEAVES = """
CREATE TEMP TABLE sc_sum ON COMMIT DROP AS
WITH source AS (
    SELECT b.object_id, b.indicator_code, r.subject, r.ord, r.subject_ord, r.first_subject, r.weighted_ord,
           b.value, b.data_point_id, b.target, b.baseline, b.floor_at, b.reached, r.kind,
           r.marks, r.cap, r.zero_point, r.band_thresholds, r.band_shares,
           r.floor_share, r.min_raters, r.zero_index, r.full_index, r.per_item, r.amount_cap,
           e.position, e.peers, e.ratings, e.kept_sum, e.kept
    FROM sc_base b
    JOIN sc_rule_subject r ON r.indicator_code = b.indicator_code
    -- Only rank and grade lines have extras: the other lines' NULL key skips the probe.
    LEFT JOIN sc_extra e ON e.indicator_code = CASE WHEN r.kind IN (7, 8) THEN b.indicator_code END
                        AND e.object_id = b.object_id AND e.subject = r.subject
), scored AS (
    -- In the stored types: the sums and digests below read exactly what is stored.
    SELECT u.object_id, u.indicator_code, u.subject, u.value, u.data_point_id, u.target, u.baseline,
           f.share::numeric(60, 40) AS share, f.marks::numeric(24, 6) AS marks, f.earned::numeric(24, 6) AS earned,
           f.missing, u.kind, u.ord, u.subject_ord, u.first_subject, u.weighted_ord
    FROM source u
    -- OFFSET 0 keeps each lateral step a separate node, so its expressions are computed once per row
    -- instead of once per reference. Kinds: sc_rule.kind.
    CROSS JOIN LATERAL (
        SELECT CASE u.kind
                 WHEN 1 THEN CASE WHEN u.target > 0 THEN u.value END
                 WHEN 2 THEN CASE WHEN u.zero_point > u.target THEN u.zero_point - u.value END
                 WHEN 3 THEN CASE WHEN u.target > u.floor_at THEN u.value - u.floor_at END
                 WHEN 4 THEN CASE WHEN u.target < u.floor_at THEN u.floor_at - u.value END
                 -- the first band whose threshold >= value: the one reached if it equals it, else the next
                 WHEN 5 THEN CASE WHEN u.reached IS NOT NULL
                   THEN coalesce(u.band_shares[u.reached + CASE WHEN u.reached > 0
                                                  AND u.band_thresholds[u.reached] = u.value THEN 0 ELSE 1 END], 0)
                 END
                 WHEN 6 THEN CASE WHEN u.reached IS NOT NULL THEN coalesce(u.band_shares[nullif(u.reached, 0)], 0) END
                 WHEN 7 THEN
                   CASE WHEN u.peers = 1 THEN 1 ELSE (u.peers - 1) - (u.position - 1) * (1 - u.floor_share) END
                 WHEN 8 THEN CASE WHEN u.ratings >= u.min_raters THEN u.kept_sum END
                 WHEN 9 THEN CASE WHEN u.full_index > u.zero_index AND u.value BETWEEN 0 AND 100
                                  THEN u.value - u.zero_index END
               END AS num,
               CASE u.kind
                 WHEN 1 THEN u.target
                 WHEN 2 THEN u.zero_point - u.target
                 WHEN 3 THEN u.target - u.floor_at
                 WHEN 4 THEN u.floor_at - u.target
                 WHEN 5 THEN 1
                 WHEN 6 THEN 1
                 WHEN 7 THEN greatest(u.peers - 1, 1)
                 WHEN 8 THEN u.kept
                 WHEN 9 THEN u.full_index - u.zero_index
               END AS den
        OFFSET 0
    ) x
    CROSS JOIN LATERAL (
        -- 0 outside subjects (bonus, deduction, veto), 1 missing, 2 zero, 3 cap, 4 a ratio
        SELECT CASE WHEN u.kind >= 10 THEN 0
                    WHEN x.num IS NULL OR NOT x.den > 0 THEN 1
                    WHEN x.num <= 0 THEN 2
                    WHEN x.num >= u.cap * x.den THEN 3
                    ELSE 4 END AS state
        OFFSET 0
    ) c
    CROSS JOIN LATERAL (
        SELECT CASE c.state WHEN 2 THEN 0 WHEN 3 THEN u.cap WHEN 4 THEN x.num::numeric(60, 40) / x.den END AS share,
               CASE WHEN c.state = 0 OR (c.state = 1 AND :renormalize) THEN 0 ELSE u.marks END AS marks,
               CASE WHEN u.kind = 10 AND u.value IS NOT NULL
                      THEN least(u.per_item * greatest(floor(u.value), 0), u.amount_cap)
                    WHEN u.kind = 11 AND u.value IS NOT NULL
                      THEN -least(u.per_item * greatest(floor(u.value), 0), u.amount_cap)
                    WHEN c.state = 3 THEN round(u.marks * u.cap, :places)
                    WHEN c.state = 4 THEN round(round((u.marks * x.num)::numeric(60, 40) / x.den, 32), :places)
                    ELSE 0 END AS earned,
               CASE WHEN c.state = 0 THEN u.kind IN (10, 11) AND u.value IS NULL ELSE c.state = 1 END AS missing
        OFFSET 0
    ) f
), objects AS (
    -- (ord, subject_ord) number the lines in the byte order of (indicator code, subject): sc_rule,
    -- RULE_SUBJECTS. Every ordered aggregate states the same order, so the lines are sorted once.
    SELECT w.object_id,
           array_agg(w.indicator_code ORDER BY w.ord, w.subject_ord) AS indicator_codes,
           array_agg(w.subject ORDER BY w.ord, w.subject_ord) AS subjects,
           array_agg(trim_scale(w.value) ORDER BY w.ord, w.subject_ord) AS raw_values,
           array_agg(trim_scale(w.target) ORDER BY w.ord, w.subject_ord) AS targets,
           array_agg(trim_scale(w.baseline) ORDER BY w.ord, w.subject_ord) AS baselines,
           array_agg(trim_scale(w.share) ORDER BY w.ord, w.subject_ord) AS shares,
           array_agg(trim_scale(w.marks) ORDER BY w.ord, w.subject_ord) AS marks,
           array_agg(trim_scale(w.earned) ORDER BY w.ord, w.subject_ord) AS earned,
           array_agg(w.missing ORDER BY w.ord, w.subject_ord) AS missing,
           array_agg(w.data_point_id ORDER BY w.ord, w.subject_ord) AS data_point_ids,
           CAST(ARRAY[{subject_marks}] AS numeric[]) AS subject_marks,
           CAST(ARRAY[{subject_earned}] AS numeric[]) AS subject_earned,
           coalesce(sum(w.earned) FILTER (WHERE w.kind = 10), 0) AS bonus,
           coalesce(-sum(w.earned) FILTER (WHERE w.kind = 11), 0) AS deduction,
           -- values read: a leaf's value counted once, on its first subject's line
           count(*) FILTER (WHERE w.value IS NOT NULL AND w.first_subject) AS values_
    FROM scored w
    GROUP BY w.object_id
), written AS (
    INSERT INTO appraisal.result_object_leaves (run_id, object_id, indicator_codes, subjects, raw_values, targets,
                                                baselines, shares, marks, earned, missing, data_point_ids)
    SELECT :run_id, object_id, indicator_codes, subjects, raw_values, targets, baselines, shares, marks, earned,
           missing, data_point_ids
    FROM objects
)
-- Each object's part of both hashes, column by column (docs/scoring.md, "Reproducibility"): the
-- numbers were aggregated without trailing zeros, as the hash rules spell them.
SELECT o.object_id, o.subject_marks, o.subject_earned, o.bonus, o.deduction, o.values_,
       sha256(convert_to(concat_ws(E'\\n', h.head, array_to_string(o.shares, '|', ''), array_to_string(o.marks, '|'),
                                   array_to_string(o.earned, '|'), array_to_string(o.missing, '|')),
                         'UTF8')) AS leaves_digest,
       sha256(convert_to(concat_ws(E'\\n', h.head, array_to_string(o.data_point_ids, '|', '')), 'UTF8'))
           AS inputs_digest
FROM objects o
-- The columns both digests start with, spelled once.
CROSS JOIN LATERAL (
    SELECT concat_ws(E'\\n', array_to_string(o.indicator_codes, '|'), array_to_string(o.subjects, '|'),
                     array_to_string(o.raw_values, '|', ''), array_to_string(o.targets, '|', ''),
                     array_to_string(o.baselines, '|', '')) AS head
    OFFSET 0
) h
"""

# One sum per weighted subject, the subjects sorted as SUBJECTS numbers them (RULE_SUBJECTS.weighted_ord).
SUBJECT_SUM = "sum(w.{column}) FILTER (WHERE w.weighted_ord = {n})"


def _leaves_sql(subjects: list[str]) -> str:
    """LEAVES with one sum of marks and of earned per weighted subject."""
    sums = {
        f"subject_{column}": ", ".join(SUBJECT_SUM.format(column=column, n=n) for n in range(1, len(subjects) + 1))
        for column in ("marks", "earned")
    }
    return LEAVES.format(**sums)


# Every weighted subject of every object: earned and marks, the score out of 100 and the
# contribution with the weights renormalized over the object's present subjects.
SUBJECTS = """
CREATE TEMP TABLE sc_subject ON COMMIT DROP AS
WITH weights AS (
    SELECT subject, weight, n
    FROM unnest(CAST(:subjects AS text[]), CAST(:weights AS numeric[])) WITH ORDINALITY AS w(subject, weight, n)
), sums AS (
    SELECT po.object_id, w.subject, w.weight, coalesce(s.subject_earned[w.n], 0) AS earned,
           coalesce(s.subject_marks[w.n], 0) AS marks
    FROM appraisal.plan_object po
    CROSS JOIN weights w
    LEFT JOIN sc_sum s ON s.object_id = po.object_id
    WHERE po.plan_id = :plan_id AND po.object_id BETWEEN CAST(:lo AS uuid) AND CAST(:hi AS uuid)
), present AS (
    SELECT sums.*, sum(weight) FILTER (WHERE marks > 0) OVER (PARTITION BY object_id) AS present_weight
    FROM sums
)
SELECT object_id, subject, earned, marks, weight AS declared_weight,
       CASE WHEN marks > 0 THEN weight::numeric(60, 40) / present_weight ELSE 0 END AS weight,
       CASE WHEN marks > 0 THEN round(round((100 * earned)::numeric(60, 40) / marks, 32), :places) END AS score,
       CASE WHEN marks > 0
            THEN round(round((CAST(:total_points AS numeric) * weight * earned)::numeric(60, 40)
                             / (present_weight * marks), 32), :places)
            ELSE 0 END AS contribution
FROM present
"""

# What the roll-up and the hashes need of each object, one row: the subject rows as written to
# result_subject (and their hash lines, from the stored numbers), the sum of the contributions, and
# the leaf pass's bonus, deduction, values read and digests (sc_sum: one row per object).
OBJECTS = """
CREATE TEMP TABLE sc_object ON COMMIT DROP AS
WITH written AS (
    INSERT INTO appraisal.result_subject (run_id, object_id, subject, weight, earned, marks, score, contribution)
    SELECT :run_id, object_id, subject, weight, earned, marks, score, contribution FROM sc_subject
    RETURNING object_id, subject, weight, earned, marks, score, contribution
), subjects AS (
    SELECT object_id, sum(contribution) AS base,
           string_agg(concat_ws('|', '', subject, trim_scale(weight), trim_scale(earned), trim_scale(marks),
                                coalesce(trim_scale(score)::text, ''), trim_scale(contribution)),
                      E'\\n' ORDER BY subject COLLATE "C") AS subject_lines
    FROM written
    GROUP BY object_id
)
SELECT po.object_id, coalesce(s.base, 0) AS base, coalesce(b.bonus, 0) AS bonus, coalesce(b.deduction, 0) AS deduction,
       coalesce(b.values_, 0)::bigint AS values_, b.leaves_digest, b.inputs_digest, s.subject_lines
FROM appraisal.plan_object po
LEFT JOIN subjects s ON s.object_id = po.object_id
LEFT JOIN sc_sum b ON b.object_id = po.object_id
WHERE po.plan_id = :plan_id AND po.object_id BETWEEN CAST(:lo AS uuid) AND CAST(:hi AS uuid)
"""

# Composite, grade by score, veto caps (the lowest cap wins), the top-grade quota (ties at the
# boundary all move down) and the competition rank per peer group. Grades are numbered best first
# (:grade_names); a grade's number is looked up in that array, never in a subquery per object.
RESULTS = """
INSERT INTO appraisal.result (run_id, object_id, plan_id, peer_group, base, bonus, deduction, composite,
                              grade_by_score, veto_cap, veto_codes, quota_demoted, grade, rank, peer_count)
WITH totals AS (
    SELECT po.object_id, po.peer_group, coalesce(o.base, 0) AS base,
           least(coalesce(o.bonus, 0), CAST(:bonus_cap AS numeric)) AS bonus, coalesce(o.deduction, 0) AS deduction
    FROM appraisal.plan_object po
    LEFT JOIN sc_object o ON o.object_id = po.object_id
    WHERE po.plan_id = :plan_id
), composite AS (
    SELECT t.*, greatest(0, t.base + t.bonus - t.deduction) AS composite FROM totals t
), vetoes AS (
    SELECT v.object_id, array_agg(DISTINCT v.code ORDER BY v.code) AS codes,
           max(array_position(CAST(:grade_names AS text[]), r.cap_grade)) AS cap_idx
    FROM appraisal.veto_event v
    JOIN sc_rule r ON r.method = 'veto' AND v.code = ANY (r.veto_codes)
    WHERE v.plan_id = :plan_id AND v.withdrawn_at IS NULL AND r.cap_grade = ANY (CAST(:grade_names AS text[]))
    GROUP BY v.object_id
), graded AS (
    -- The best grade whose min_score the composite reaches: the grades' min_scores fall, the last is
    -- 0, and :grade_floors holds them lowest first, so width_bucket counts the grades reached.
    SELECT c.*, cardinality(CAST(:grade_names AS text[])) + 1
                - width_bucket(c.composite, CAST(:grade_floors AS numeric[])) AS score_idx,
           v.codes, v.cap_idx
    FROM composite c
    LEFT JOIN vetoes v ON v.object_id = c.object_id
), capped AS (
    SELECT graded.*, greatest(score_idx, coalesce(cap_idx, 0)) AS idx FROM graded
), counted AS (
    SELECT capped.*,
           count(*) OVER (PARTITION BY idx = 1 ORDER BY composite DESC) AS at_or_above,
           count(*) OVER () AS objects
    FROM capped
), quota AS (
    SELECT counted.*,
           (idx = 1 AND CAST(:quota AS numeric) IS NOT NULL AND cardinality(CAST(:grade_names AS text[])) > 1
            AND at_or_above > floor(CAST(:quota AS numeric) * objects)) AS demoted
    FROM counted
)
SELECT :run_id, q.object_id, :plan_id, q.peer_group, q.base, q.bonus, q.deduction, q.composite,
       (CAST(:grade_names AS text[]))[q.score_idx],
       (CAST(:grade_names AS text[]))[q.cap_idx],
       coalesce(q.codes, ARRAY[]::text[]),
       q.demoted,
       (CAST(:grade_names AS text[]))[CASE WHEN q.demoted THEN 2 ELSE q.idx END],
       rank() OVER (PARTITION BY q.peer_group ORDER BY q.composite DESC),
       count(*) OVER (PARTITION BY q.peer_group)
FROM quota q
"""

# The lines of inputs_hash that do not depend on the leaf pass, joined: the leaf lines (before the
# object lines) and the rating and veto lines (after them). A parallel run spells them in its own
# transaction while the parts score, instead of after them. The texts (a line per expert rating: 5 MB
# for 60,000 ratings) are stored uncompressed: compressing them cost more than hashing them.
INPUT_LINES_TABLE = (
    "CREATE TEMP TABLE sc_input_lines (leaf_lines text STORAGE EXTERNAL, other_lines text STORAGE EXTERNAL) "
    "ON COMMIT DROP"
)
INPUT_LINES = """
INSERT INTO sc_input_lines
SELECT (SELECT string_agg(concat_ws('|', 'leaf', r.indicator_code, r.metric, coalesce(r.method, ''), r.direction,
                                    trim_scale(r.marks), array_to_string(r.subjects, ','),
                                    coalesce(l.scoring::text, '')),
                          E'\\n' ORDER BY r.indicator_code COLLATE "C")
        FROM sc_rule r JOIN appraisal.plan_leaf l ON l.plan_id = :plan_id AND l.indicator_code = r.indicator_code)
           AS leaf_lines,
       (SELECT string_agg(line, E'\\n' ORDER BY part, object_id, k COLLATE "C") FROM (
            SELECT 3 AS part, er.object_id, er.assignment_id::text AS k,
                   concat_ws('|', 'rating', er.assignment_id, er.object_id, er.indicator_code, er.subject, er.grade)
                       AS line
            FROM (SELECT DISTINCT ON (assignment_id) * FROM appraisal.expert_rating
                  WHERE plan_id = :plan_id ORDER BY assignment_id, rated_at DESC) er
            JOIN sc_rule r ON r.indicator_code = er.indicator_code
            UNION ALL
            SELECT 4, v.object_id, v.id::text, concat_ws('|', 'veto', v.id, v.object_id, v.code)
            FROM appraisal.veto_event v WHERE v.plan_id = :plan_id AND v.withdrawn_at IS NULL
        ) lines) AS other_lines
"""

# Both hashes from the per-object digests of the leaf pass (docs/scoring.md, "Reproducibility"):
# what is left to order is one line per object.
HASHES = """
WITH objects AS MATERIALIZED (
    SELECT r.object_id,
           encode(sha256(convert_to(concat_ws(E'\\n',
               concat_ws('|', r.object_id, '', '', r.peer_group, trim_scale(r.base), trim_scale(r.bonus),
                         trim_scale(r.deduction), trim_scale(r.composite), r.grade_by_score, coalesce(r.veto_cap, ''),
                         array_to_string(r.veto_codes, ','), r.quota_demoted, r.grade, r.rank, r.peer_count),
               o.subject_lines, encode(coalesce(o.leaves_digest, sha256('')), 'hex')), 'UTF8')), 'hex') AS digest,
           concat_ws('|', 'object', r.object_id, r.peer_group,
                     encode(coalesce(o.inputs_digest, sha256('')), 'hex')) AS input_line
    FROM appraisal.result r
    LEFT JOIN sc_object o ON o.object_id = r.object_id
    WHERE r.run_id = :run_id
)
SELECT (SELECT encode(sha256(convert_to(string_agg(digest, E'\\n' ORDER BY object_id), 'UTF8')), 'hex') FROM objects)
           AS results_hash,
       -- the leaf lines, the object lines, then the rating and veto lines (NULL: no line at all)
       (SELECT encode(sha256(convert_to(nullif(concat_ws(E'\\n', i.leaf_lines,
                                                         (SELECT string_agg(input_line, E'\\n' ORDER BY object_id)
                                                          FROM objects),
                                                         i.other_lines), ''), 'UTF8')), 'hex')
        FROM sc_input_lines i) AS inputs_lines_hash,
       (SELECT count(*) FROM objects) AS objects,
       (SELECT coalesce(sum(values_), 0)::int FROM sc_object) AS values_
"""


# Object ids are compared as uuids; these bound every id.
FIRST_ID, LAST_ID = uuid.UUID(int=0), uuid.UUID(int=(1 << 128) - 1)
# A run with an engine for parts scores the plan's objects on this many connections at once: the
# leaf pass is one backend's work per range of objects, and the machine the goal is set for has two
# cores. The parts take ranges of objects from a queue (``range_sizes``): with one range per part,
# one part often finished a second or two after the other (the machine does not share its cores
# evenly), while a range costs about 0.05 s more than scoring its objects within a larger one.
PARTS = 2
SNAPSHOT_ID = re.compile(r"[0-9A-F]{8}-[0-9A-F]{8}-[0-9]+")

Executor = AsyncSession | AsyncConnection


async def _run(db: Executor, sql: str, **params: Any) -> None:
    await db.execute(text(sql), params)


async def _input_lines(db: Executor, plan_id: uuid.UUID) -> None:
    await _run(db, INPUT_LINES_TABLE)
    await _run(db, INPUT_LINES, plan_id=plan_id)


async def _rank_metrics(db: Executor) -> list[str]:
    sql = "SELECT coalesce(array_agg(DISTINCT metric), '{}') FROM sc_rule WHERE kind = 7"
    return list((await db.execute(text(sql))).scalar_one())


async def _leaf_pass(
    db: Executor,
    plan: PlanInputs,
    run_id: uuid.UUID,
    lo: uuid.UUID,
    hi: uuid.UUID,
    ranks: Callable[[], Awaitable[str | None]] | None = None,
) -> tuple[float, float]:
    """Score the objects with ids in [lo, hi] into result_object_leaves and result_subject, and the temp table
    sc_object (one row per object: what the roll-up and the hashes need); (load, score) seconds. ``ranks``:
    the range's rows of sc_rank (RANGE_RANKS) when the run ranked every object; else the pass ranks them."""
    started = time.perf_counter()
    await _run(db, f"SET LOCAL work_mem = '{WORK_MEM}'")
    # The lateral steps of the leaf pass are cheap per row; caching them (memoize) costs more than
    # it saves, and sorting a million rows to merge-join the small rank and grade tables too.
    await _run(db, "SET LOCAL enable_memoize = off")
    await _run(db, "SET LOCAL enable_mergejoin = off")
    # Re-runs inside one transaction (tests, an objection ruled and rescored) start from scratch.
    await _run(
        db,
        "DROP TABLE IF EXISTS sc_rule, sc_base, sc_rank, sc_grade, sc_rule_subject, sc_extra, sc_sum, sc_subject, "
        "sc_object, sc_input_lines",
    )
    ids = {"plan_id": plan.plan_id, "lo": lo, "hi": hi}
    await _run(db, RULES, plan_id=plan.plan_id)
    metrics = (await db.execute(text("SELECT coalesce(array_agg(DISTINCT metric), '{}') FROM sc_rule"))).scalar()
    # sc_base is not analysed: the leaf pass joins it only to small analysed tables, which it hashes
    # whatever sc_base's estimate, and its size is known from its pages.
    await _run(db, BASE, **ids, period=plan.period, metrics=metrics)
    if ranks is None:
        await _run(db, RANKS, **ids, period=plan.period, metrics=await _rank_metrics(db))
    else:
        await _run(db, GIVEN_RANKS, ranks=await ranks())
    await _run(db, GRADES, **ids)
    subjects = sorted(plan.subject_weights)
    await _run(db, RULE_SUBJECTS, subjects=subjects)
    await _run(db, EXTRAS)
    await _run(db, "ANALYZE sc_rule_subject, sc_extra")
    loaded = time.perf_counter()
    await _run(
        db,
        _leaves_sql(subjects),
        run_id=run_id,
        renormalize=plan.missing_rule == "renormalize",
        places=plan.score_places,
    )
    await _run(db, "ANALYZE sc_sum")
    await _run(
        db,
        SUBJECTS,
        **ids,
        subjects=subjects,
        weights=[plan.subject_weights[subject] for subject in subjects],
        places=plan.score_places,
        total_points=plan.total_points,
    )
    await _run(db, OBJECTS, **ids, run_id=run_id)
    return loaded - started, time.perf_counter() - loaded


def range_sizes(objects: int, parts: int) -> list[int]:
    """How many objects each range of a parallel run holds, in the order the parts take them. The
    first ``parts`` ranges hold two thirds of the objects: each part chooses values for one while the
    run's own transaction ranks every object, which takes about as long. The last third comes in
    ``2 * parts`` small ranges that the parts take as they finish, so that they finish together."""
    first = [objects * 2 // (3 * parts)] * parts
    rest, small = objects - sum(first), 2 * parts
    return [size for size in first + [rest // small + (k < rest % small) for k in range(small)] if size > 0]


async def _object_ranges(session: AsyncSession, plan_id: uuid.UUID, parts: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """The plan's objects cut into ranges of ids of ``range_sizes``, together covering every id."""
    ids = list(
        (
            await session.execute(
                text("SELECT object_id FROM appraisal.plan_object WHERE plan_id = :plan_id ORDER BY object_id"),
                {"plan_id": plan_id},
            )
        ).scalars()
    )
    cuts = list(accumulate(range_sizes(len(ids), parts)))[:-1]
    # Each cut is the first id of the next range; the one before ends just below it.
    starts = [FIRST_ID, *(ids[cut] for cut in cuts)]
    ends = [uuid.UUID(int=start.int - 1) for start in starts[1:]] + [LAST_ID]
    return list(zip(starts, ends, strict=True))


@dataclass(frozen=True)
class Parts:
    """Where a run's leaf pass may run in parts: connections of ``engine``, in ``snapshot``."""

    engine: AsyncEngine
    snapshot: str


async def parts_of(session: AsyncSession, engine: AsyncEngine) -> Parts:
    """The session's snapshot, exported for the parts of its run. Call it outside any savepoint
    (PostgreSQL exports snapshots of top-level transactions only)."""
    snapshot = str(await session.scalar(text("SELECT pg_export_snapshot()")))
    if not SNAPSHOT_ID.fullmatch(snapshot):
        raise RuntimeError(f"unexpected snapshot id {snapshot!r}")
    return Parts(engine, snapshot)


# A range's rows of a table written by an earlier attempt at the run.
EARLIER_ATTEMPT = "DELETE FROM appraisal.{table} WHERE run_id = :run_id AND object_id BETWEEN :lo AND :hi"


async def _score_part(
    engine: AsyncEngine,
    snapshot: str,
    plan: PlanInputs,
    run_id: uuid.UUID,
    queue: deque[tuple[int, tuple[uuid.UUID, uuid.UUID]]],
    ranks: asyncio.Future[list[str | None]],
    scored: asyncio.Queue[str | None],
) -> tuple[float, float]:
    """One part of a parallel run: a connection in the run's snapshot that scores ranges of objects
    taken from the run's queue until it is empty, so that a part slowed by the machine takes fewer.
    Its leaf and subject rows commit at once but stay unread until the run succeeds (readers read
    succeeded runs only); rows of an earlier attempt at the run (a worker killed mid-run) are
    replaced. Each range's sc_object rows go to ``scored`` as soon as it is scored (READ_OBJECTS);
    returns the part's (load, score) seconds."""
    load_s = score_s = 0.0
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            # Every part reads what the run's own transaction read: one state of the data per run.
            await _run(conn, f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            while queue:
                n, (lo, hi) = queue.popleft()
                for table in ("result_object_leaves", "result_subject"):
                    await _run(conn, EARLIER_ATTEMPT.format(table=table), run_id=run_id, lo=lo, hi=hi)
                range_load, range_score = await _leaf_pass(conn, plan, run_id, lo, hi, partial(_nth, ranks, n))
                if (rows := (await conn.execute(text(READ_OBJECTS))).scalar_one()) is not None:
                    scored.put_nowait(rows)
                load_s, score_s = load_s + range_load, score_s + range_score
    return load_s, score_s


async def _ranks_by_range(
    session: AsyncSession, plan: PlanInputs, ranges: list[tuple[uuid.UUID, uuid.UUID]]
) -> list[str | None]:
    """Every object's competition positions (RANKS, in the run's transaction, which holds sc_rule),
    cut into the parts' ranges: one ranking per run instead of one per part."""
    ids = {"plan_id": plan.plan_id, "lo": FIRST_ID, "hi": LAST_ID}
    await _run(session, RANKS, **ids, period=plan.period, metrics=await _rank_metrics(session))
    return [(await session.execute(text(RANGE_RANKS), {"lo": lo, "hi": hi})).scalar_one() for lo, hi in ranges]


async def _beside_parts(
    session: AsyncSession,
    plan: PlanInputs,
    ranges: list[tuple[uuid.UUID, uuid.UUID]],
    ranks: asyncio.Future[list[str | None]],
    scored: asyncio.Queue[str | None],
) -> None:
    """What the run's own transaction does while its parts score: rank every object once (each part
    waits for its range's positions after choosing its values), spell INPUT_LINES, then gather each
    scored range's sc_object rows until ``scored`` yields None (the parts are done), so that only the
    last range's rows are left to gather when the parts finish."""
    try:
        ranks.set_result(await _ranks_by_range(session, plan, ranges))
    except Exception as error:
        ranks.set_exception(error)  # the parts waiting for their positions fail with it
        raise
    await _input_lines(session, plan.plan_id)
    await _run(session, RUN_OBJECTS)
    while (rows := await scored.get()) is not None:
        await _run(session, PARTS_OBJECTS, rows=rows)


async def _nth(ranges: asyncio.Future[list[str | None]], n: int) -> str | None:
    # Shielded: a part cancelled while it waits must not cancel the other parts' positions.
    return (await asyncio.shield(ranges))[n]


# A range's sc_object rows as one JSON text (numbers exact, digests in hex), and the run's sc_object
# filled from it: the client passes a string on instead of decoding and re-encoding 10^4 rows, which
# held up the parts' next statements while the client was busy.
READ_OBJECTS = """
SELECT json_agg(json_build_array(object_id, base, bonus, deduction, values_, encode(leaves_digest, 'hex'),
                                 encode(inputs_digest, 'hex'), subject_lines))::text
FROM sc_object
"""
# sc_object of a parallel run, filled range by range with the parts' rows.
RUN_OBJECTS = """
CREATE TEMP TABLE sc_object (object_id uuid, base numeric, bonus numeric, deduction numeric, values_ bigint,
                             leaves_digest bytea, inputs_digest bytea, subject_lines text) ON COMMIT DROP
"""
PARTS_OBJECTS = """
INSERT INTO sc_object
SELECT (e ->> 0)::uuid, (e ->> 1)::numeric, (e ->> 2)::numeric, (e ->> 3)::numeric, (e ->> 4)::bigint,
       decode(e ->> 5, 'hex'), decode(e ->> 6, 'hex'), e ->> 7
FROM json_array_elements(CAST(:rows AS json)) AS e
"""


async def score(
    session: AsyncSession,
    *,
    plan: PlanInputs,
    run_id: uuid.UUID,
    report: Report,
    parts: Parts | None = None,
) -> RunFigures:
    """Score the plan into the run's result rows, inside the caller's transaction.

    With ``parts`` (the job worker, whose transaction is its own), the leaf pass and the subject
    scores run on ``PARTS`` connections of its engine at once, taking ranges of objects, each in this
    transaction's snapshot; the results per object (composite, grade, quota, rank) and the hashes
    then run here on one row per object. Without it (a caller's enclosing transaction, as in tests)
    everything runs here. Both write the same rows.
    """
    figures = RunFigures()
    clock = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        figures.timings[phase] = round(now - clock, 4)
        clock = now

    async def run(sql: str, **params: Any) -> None:
        await session.execute(text(sql), params)

    pid = {"plan_id": plan.plan_id}
    ranges = await _object_ranges(session, plan.plan_id, PARTS) if parts is not None else []
    in_parts = len(ranges) > 1 and parts is not None
    if in_parts and parts is not None:
        await run(f"SET LOCAL work_mem = '{WORK_MEM}'")
        await run("DROP TABLE IF EXISTS sc_rule, sc_rank, sc_object, sc_input_lines")
        await run(RULES, plan_id=plan.plan_id)
        ranks: asyncio.Future[list[str | None]] = asyncio.get_running_loop().create_future()
        scored: asyncio.Queue[str | None] = asyncio.Queue()
        # Not in the parts' task group: a failed part cancels the others, but a statement of the run's
        # own connection is never cancelled midway, since the run's clean-up goes on using it.
        beside = asyncio.create_task(_beside_parts(session, plan, ranges, ranks, scored))
        queue = deque(enumerate(ranges))
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(_score_part(parts.engine, parts.snapshot, plan, run_id, queue, ranks, scored))
                    for _ in range(min(PARTS, len(ranges)))
                ]
        finally:
            scored.put_nowait(None)  # after every range's rows: the run's own work ends with them
            await asyncio.wait([beside])
            beside_error = beside.exception()  # retrieved either way; raised below if the parts succeeded
            if ranks.done() and not ranks.cancelled():
                ranks.exception()
        if beside_error is not None:
            raise beside_error
        figures.timings["load"] = round(max(task.result()[0] for task in tasks), 4)
        lap("score")
        figures.timings["score"] = round(figures.timings["score"] - figures.timings["load"], 4)
        figures.timings["parts"] = len(tasks)
    else:
        load_s, score_s = await _leaf_pass(session, plan, run_id, FIRST_ID, LAST_ID)
        figures.timings["load"], figures.timings["score"] = round(load_s, 4), round(score_s, 4)
        clock = time.perf_counter()
    if not in_parts:
        # A parallel run's sc_object is filled by inserts and planned from its pages: RESULTS hashes it
        # either way, and HASHES turns nested loops off.
        await run("ANALYZE sc_object")
    await report(0.6)
    await run(
        RESULTS,
        **pid,
        run_id=run_id,
        grade_names=[g for g, _ in plan.grades],
        grade_floors=[m for _, m in reversed(plan.grades)],
        bonus_cap=plan.bonus_cap,
        quota=plan.top_grade_quota,
    )
    lap("roll_up")
    await report(0.8)
    parameters = json.dumps(
        {
            "period": plan.period,
            "score_places": plan.score_places,
            "missing_rule": plan.missing_rule,
            "total_points": str(plan.total_points),
            "bonus_cap": str(plan.bonus_cap),
            "subject_weights": {k: str(v) for k, v in sorted(plan.subject_weights.items())},
            "grades": [[g, str(m)] for g, m in plan.grades],
            "top_grade_quota": None if plan.top_grade_quota is None else str(plan.top_grade_quota),
        },
        sort_keys=True,
    )
    # The run's rows were written in this transaction, so the statistics of result and
    # result_subject know nothing of its id and estimate one row each: a nested loop over 10,000
    # objects x 10,000 subject groups took minutes. Hash joins take well under a second.
    await run("SET LOCAL enable_nestloop = off")
    if not in_parts:
        await _input_lines(session, plan.plan_id)
    hashes = (await session.execute(text(HASHES), {**pid, "run_id": run_id})).one()
    await run("SET LOCAL enable_nestloop = on")
    figures.object_count, figures.value_count = hashes.objects, hashes.values_
    figures.inputs_hash = _combine(parameters, hashes.inputs_lines_hash or "")
    figures.results_hash = hashes.results_hash or ""
    lap("hash")
    return figures


def _combine(parameters: str, lines_hash: str) -> str:
    return hashlib.sha256(f"{parameters}\n{lines_hash}".encode()).hexdigest()
