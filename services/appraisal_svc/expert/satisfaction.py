"""Satisfaction values from survey.results.finalized: each published cell that feeds an indicator
becomes an accepted data point (source 'survey') of the plans that score that indicator for that
object. The survey service verified the numbers, so there is no four-eyes step here.

Set-based: the event's cells (at most 5,000) go in as arrays; filtering, versioning and the
writes are a handful of statements whatever the number of cells."""

from __future__ import annotations

import logging
from collections import Counter

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.survey_results import SurveyResultsFinalized
from services.appraisal_svc.audit import service as audit
from shared.events import CloudEvent

log = logging.getLogger("govperf.appraisal.satisfaction")

STAGE = "stage_survey_cell"
SURVEY_ACTOR = "survey_svc"


class AmbiguousCells(ValueError):
    """Two overall cells of one object feed the same indicator: which one counts is unknowable,
    so the event is refused (dead-lettered) rather than guessed."""


async def on_survey_results_finalized(session: AsyncSession, event: CloudEvent) -> None:
    results = SurveyResultsFinalized.model_validate(event.data)
    # The index over all respondent groups is the one appraisal scores; group breakdowns are not.
    cells = [c for c in results.cells if c.indicator_code is not None and c.respondent_group is None]
    twice = [key for key, n in Counter((c.object_id, c.indicator_code) for c in cells).items() if n > 1]
    if twice:
        raise AmbiguousCells(f"campaign {results.campaign_id}: {len(twice)} object(s) have two cells for one indicator")
    if not cells or (results.plan_id is None and results.cycle_label is None):
        return
    await session.execute(
        text(
            f"CREATE TEMP TABLE IF NOT EXISTS {STAGE} (object_id uuid, metric text, period text, value numeric, "
            "suppressed bool, provenance jsonb) ON COMMIT DROP"
        )
    )
    await session.execute(text(f"TRUNCATE {STAGE}"))
    # The cells some open plan scores: plans of the event's plan, or else of its cycle label, whose
    # leaves have the metric and whose objects include the cell's object.
    await session.execute(
        text(
            f"""
            INSERT INTO {STAGE} (object_id, metric, period, value, suppressed, provenance)
            SELECT DISTINCT ON (c.object_id, c.metric)
                   c.object_id, c.metric, cy.label, c.index, c.suppressed,
                   jsonb_build_object(
                     'campaign_id', CAST(:campaign AS text), 'analysis_version', CAST(:version AS int),
                     'index', CAST(c.index AS text), 'ci_low', CAST(c.ci_low AS text),
                     'ci_high', CAST(c.ci_high AS text), 'n', c.n, 'confidence', CAST(c.confidence AS text),
                     'suppressed', c.suppressed, 'results_hash', CAST(:results_hash AS text))
              FROM unnest(CAST(:objects AS uuid[]), CAST(:metrics AS text[]), CAST(:indexes AS numeric[]),
                          CAST(:ci_lows AS numeric[]), CAST(:ci_highs AS numeric[]), CAST(:ns AS int[]),
                          CAST(:confidences AS numeric[]), CAST(:suppressed AS bool[]))
                   AS c(object_id, metric, index, ci_low, ci_high, n, confidence, suppressed)
              JOIN appraisal.plan_object po ON po.object_id = c.object_id
              JOIN appraisal.plan p ON p.id = po.plan_id AND p.status <> 'published'
              JOIN appraisal.cycle cy ON cy.id = p.cycle_id
              JOIN appraisal.plan_leaf l ON l.plan_id = p.id AND l.metric = c.metric
             WHERE CASE WHEN CAST(:plan AS uuid) IS NULL THEN cy.label = CAST(:label AS text)
                        ELSE p.id = CAST(:plan AS uuid) END
             ORDER BY c.object_id, c.metric, cy.label
            """  # noqa: S608 - constants only; values are bound
        ),
        {
            "campaign": str(results.campaign_id),
            "version": results.analysis_version,
            "results_hash": results.results_hash,
            "plan": results.plan_id,
            "label": results.cycle_label,
            "objects": [c.object_id for c in cells],
            "metrics": [c.indicator_code for c in cells],
            "indexes": [c.index for c in cells],
            "ci_lows": [c.ci_low for c in cells],
            "ci_highs": [c.ci_high for c in cells],
            "ns": [c.n for c in cells],
            "confidences": [c.confidence for c in cells],
            "suppressed": [c.suppressed for c in cells],
        },
    )
    # Statistics for the planner: the statements below join this table with data_point.
    await session.execute(text(f"ANALYZE {STAGE}"))
    # An older or equal analysis of the same campaign changes nothing; another campaign's analysis
    # replaces a cell only when it was finalized later.
    await session.execute(
        text(
            f"""
            DELETE FROM {STAGE} s USING appraisal.survey_cell k
             WHERE k.object_id = s.object_id AND k.metric = s.metric AND k.period = s.period
               AND ((k.campaign_id = :campaign AND k.analysis_version >= :version)
                    OR (k.campaign_id <> :campaign AND k.finalized_at >= :finalized_at))
            """  # noqa: S608 - constants only; values are bound
        ),
        {"campaign": results.campaign_id, "version": results.analysis_version, "finalized_at": results.finalized_at},
    )
    # The previous survey value of each cell ends; a suppressed cell leaves the value missing.
    ended = await session.execute(
        text(
            f"""
            UPDATE appraisal.data_point d SET current = false, lock_version = d.lock_version + 1
              FROM {STAGE} s
             WHERE d.current AND d.source = 'survey' AND d.object_id = s.object_id
               AND d.metric = s.metric AND d.period = s.period
            """  # noqa: S608 - constants only; values are bound
        )
    )
    written = (
        await session.execute(
            text(
                f"""
                WITH inserted AS (
                  INSERT INTO appraisal.data_point
                    (id, object_id, metric, period, source, revision, current, value, provenance, status,
                     submitted_by, submitted_org_path, submitted_at, decided_by, decided_at, lock_version)
                  SELECT gen_random_uuid(), s.object_id, s.metric, s.period, 'survey', COALESCE(h.revision, 0) + 1,
                         true, s.value, s.provenance, 'accepted', :actor, :organizer, now(), :actor, now(), 1
                    FROM {STAGE} s
                    LEFT JOIN (
                      SELECT d.object_id, d.metric, d.period, max(d.revision) AS revision
                        FROM appraisal.data_point d
                        JOIN {STAGE} k ON k.object_id = d.object_id AND k.metric = d.metric AND k.period = d.period
                       WHERE d.source = 'survey'
                       GROUP BY 1, 2, 3
                    ) h ON h.object_id = s.object_id AND h.metric = s.metric AND h.period = s.period
                   WHERE NOT s.suppressed
                  RETURNING id, object_id, metric, period, concat_ws(',', id, object_id, metric, period, value) AS line
                ),
                remembered AS (
                  INSERT INTO appraisal.survey_cell AS k
                    (object_id, metric, period, campaign_id, analysis_version, finalized_at, suppressed,
                     results_hash, data_point_id, received_at)
                  SELECT s.object_id, s.metric, s.period, :campaign, :version, :finalized_at, s.suppressed,
                         :results_hash, i.id, now()
                    FROM {STAGE} s
                    LEFT JOIN inserted i ON i.object_id = s.object_id AND i.metric = s.metric AND i.period = s.period
                  ON CONFLICT (object_id, metric, period) DO UPDATE
                     SET campaign_id = excluded.campaign_id, analysis_version = excluded.analysis_version,
                         finalized_at = excluded.finalized_at, suppressed = excluded.suppressed,
                         results_hash = excluded.results_hash, data_point_id = excluded.data_point_id,
                         received_at = excluded.received_at
                  RETURNING k.suppressed
                )
                SELECT (SELECT count(*) FROM inserted) AS written,
                       (SELECT count(*) FILTER (WHERE suppressed) FROM remembered) AS suppressed,
                       (SELECT encode(sha256(convert_to(coalesce(string_agg(line, E'\\n' ORDER BY id), ''), 'UTF8')),
                               'hex') FROM inserted) AS digest
                """  # noqa: S608 - constants only; values are bound
            ),
            {
                "actor": SURVEY_ACTOR,
                "organizer": results.organizer_org_path,
                "campaign": results.campaign_id,
                "version": results.analysis_version,
                "finalized_at": results.finalized_at,
                "results_hash": results.results_hash,
            },
        )
    ).one()
    if written.written or written.suppressed or ended.rowcount:  # type: ignore[attr-defined]
        await audit.record(
            session,
            SURVEY_ACTOR,
            "data_point.survey_received",
            "survey_campaign",
            results.campaign_id,
            {
                "analysis_version": results.analysis_version,
                "results_hash": results.results_hash,
                "written": written.written,
                "suppressed": written.suppressed,
                "ended": ended.rowcount,  # type: ignore[attr-defined]
                "digest": written.digest,
            },
        )
    log.info(
        "survey campaign %s v%s: %s value(s) written, %s suppressed",
        results.campaign_id,
        results.analysis_version,
        written.written,
        written.suppressed,
    )
