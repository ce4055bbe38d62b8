"""Scoring runs and the result versions they write (see docs/scoring.md).

Result rows are written set-based, never one by one; a run's rows are immutable once the run
succeeded, and every run of a plan is a new version, the older ones staying readable."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ARRAY,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.appraisal_svc.db import SCHEMA, Base
from shared.db import created_at_column
from shared.ids import new_id


class ScoringRun(Base):
    __tablename__ = "scoring_run"
    __table_args__ = (
        UniqueConstraint("plan_id", "version"),
        CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name="status"),
        # One run at a time per plan, across replicas.
        Index(
            "uq_scoring_run_active", "plan_id", unique=True, postgresql_where=text("status IN ('queued', 'running')")
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=new_id)
    plan_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("plan.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)  # result version, 1, 2, ... per plan
    job_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(Text, default="queued")
    reason: Mapped[str] = mapped_column(Text)  # "requested", or the objection ruling that asked for it
    requested_by: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[dt.datetime] = created_at_column()
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    object_count: Mapped[int | None] = mapped_column(Integer)
    value_count: Mapped[int | None] = mapped_column(Integer)
    inputs_hash: Mapped[str | None] = mapped_column(Text)
    results_hash: Mapped[str | None] = mapped_column(Text)
    hash_rules: Mapped[int | None] = mapped_column(Integer)  # the hash rules both hashes follow (contracts.scoring)
    timings: Mapped[dict[str, Any] | None] = mapped_column(JSONB)  # seconds per phase
    error: Mapped[str | None] = mapped_column(Text)


class Result(Base):
    """One object's result in one run."""

    __tablename__ = "result"

    run_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("scoring_run.id", ondelete="CASCADE"), primary_key=True
    )
    object_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    plan_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), index=True)
    peer_group: Mapped[str] = mapped_column(Text)
    base: Mapped[Decimal] = mapped_column(Numeric(24, 6))  # sum of the subject contributions
    bonus: Mapped[Decimal] = mapped_column(Numeric(24, 6))
    deduction: Mapped[Decimal] = mapped_column(Numeric(24, 6))  # positive
    composite: Mapped[Decimal] = mapped_column(Numeric(24, 6))
    grade_by_score: Mapped[str] = mapped_column(Text)
    veto_cap: Mapped[str | None] = mapped_column(Text)
    veto_codes: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    quota_demoted: Mapped[bool] = mapped_column(Boolean, default=False)
    grade: Mapped[str] = mapped_column(Text)
    rank: Mapped[int] = mapped_column(Integer)
    peer_count: Mapped[int] = mapped_column(Integer)


class ResultSubject(Base):
    """One object's score for one evaluation subject in one run."""

    __tablename__ = "result_subject"

    # No foreign key (as result_object_leaves): written set-based right after its run row, deleted only with a
    # failed run.
    run_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    object_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    subject: Mapped[str] = mapped_column(Text, primary_key=True)
    weight: Mapped[Decimal] = mapped_column(Numeric(24, 12))  # after renormalization over present subjects
    earned: Mapped[Decimal] = mapped_column(Numeric(24, 6))
    marks: Mapped[Decimal] = mapped_column(Numeric(24, 6))
    score: Mapped[Decimal | None] = mapped_column(Numeric(24, 6))  # out of 100; null when missing
    contribution: Mapped[Decimal] = mapped_column(Numeric(24, 6))


class ResultObjectLeaves(Base):
    """One object's leaf results in one run: one row per (run, object) whose arrays hold a line per
    leaf and subject ('' for bonus, deduction and veto), in the byte order of (indicator code,
    subject). Read them through the view ``result_leaf`` (``ResultLeaf``), a row per line.

    A run writes a row per object, not a row per leaf and subject: every reader asks for whole
    objects (explain, publication, downloads), and a million tuples with their headers and index
    entries cost more to write than the scoring that produced them (docs/scoring.md)."""

    __tablename__ = "result_object_leaves"

    # No foreign key: written set-based right after its run row, deleted only with a failed run.
    run_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    object_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    indicator_codes: Mapped[list[str]] = mapped_column(ARRAY(Text))
    subjects: Mapped[list[str]] = mapped_column(ARRAY(Text))
    raw_values: Mapped[list[Decimal | None]] = mapped_column(ARRAY(Numeric(24, 6)))
    targets: Mapped[list[Decimal | None]] = mapped_column(ARRAY(Numeric(24, 6)))
    baselines: Mapped[list[Decimal | None]] = mapped_column(ARRAY(Numeric(24, 6)))
    shares: Mapped[list[Decimal | None]] = mapped_column(ARRAY(Numeric(60, 40)))  # null when missing
    marks: Mapped[list[Decimal]] = mapped_column(ARRAY(Numeric(24, 6)))
    earned: Mapped[list[Decimal]] = mapped_column(ARRAY(Numeric(24, 6)))
    missing: Mapped[list[bool]] = mapped_column(ARRAY(Boolean))
    data_point_ids: Mapped[list[uuid.UUID | None]] = mapped_column(ARRAY(UUID(as_uuid=True)))

    # The arrays' columns in the view's order of columns.
    LINE_COLUMNS = {
        "indicator_code": "indicator_codes",
        "subject": "subjects",
        "value": "raw_values",
        "target": "targets",
        "baseline": "baselines",
        "share": "shares",
        "marks": "marks",
        "earned": "earned",
        "missing": "missing",
        "data_point_id": "data_point_ids",
    }


def object_leaves(lines: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``result_object_leaves`` rows from leaf lines (dicts with ``run_id``, ``object_id`` and the
    view's columns; a missing column is null): for writers other than the engine (fixtures, benches)."""
    grouped: dict[tuple[Any, Any], list[Mapping[str, Any]]] = {}
    for line in lines:
        grouped.setdefault((line["run_id"], line["object_id"]), []).append(line)
    rows = []
    for (run_id, object_id), group in grouped.items():
        group.sort(key=lambda line: (line["indicator_code"].encode(), line["subject"].encode()))
        row: dict[str, Any] = {"run_id": run_id, "object_id": object_id}
        for column, array in ResultObjectLeaves.LINE_COLUMNS.items():
            row[array] = [line.get(column) for line in group]
        rows.append(row)
    return rows


# The view result_leaf (migration 0006): read-only, so it lives outside Base.metadata (which
# declares what migrations create and the schema-drift test compares).
VIEWS = MetaData(schema=SCHEMA)


class ResultLeaf(Base):
    """One leaf of one object for one subject in one run ('' for bonus, deduction and veto): a line
    of ``result_object_leaves``, read through the view ``result_leaf``. Never written."""

    __table__ = Table(
        "result_leaf",
        VIEWS,
        Column("run_id", UUID(as_uuid=True)),
        Column("object_id", UUID(as_uuid=True)),
        Column("indicator_code", Text),
        Column("subject", Text),
        Column("value", Numeric(24, 6)),
        Column("target", Numeric(24, 6)),
        Column("baseline", Numeric(24, 6)),
        Column("share", Numeric(60, 40)),  # null when missing
        Column("marks", Numeric(24, 6)),
        Column("earned", Numeric(24, 6)),
        Column("missing", Boolean),
        Column("data_point_id", UUID(as_uuid=True)),
    )
    __mapper_args__ = {
        "primary_key": [__table__.c.run_id, __table__.c.object_id, __table__.c.indicator_code, __table__.c.subject]
    }

    run_id: Mapped[uuid.UUID]
    object_id: Mapped[uuid.UUID]
    indicator_code: Mapped[str]
    subject: Mapped[str]
    value: Mapped[Decimal | None]
    target: Mapped[Decimal | None]
    baseline: Mapped[Decimal | None]
    share: Mapped[Decimal | None]
    marks: Mapped[Decimal]
    earned: Mapped[Decimal]
    missing: Mapped[bool]
    data_point_id: Mapped[uuid.UUID | None]
