"""The reference roll-up of docs/scoring.md in plain Python: from each leaf's share (the
contract's functions) to subject scores, base, bonus, deduction, composite, grade, veto caps, the
top-grade quota and the competition rank per peer group.

It is the oracle the set-based engine (``engine.py``) is proven equal to, number for number; it
does no I/O and is not used on the hot path."""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, localcontext

from contracts.scoring import (
    SCORE_CONTEXT,
    BandsParams,
    BonusParams,
    DeductionParams,
    GradeParams,
    LinearParams,
    RankParams,
    SatisfactionParams,
    ScoringRule,
    TargetRatioParams,
    VetoParams,
    bonus_earned,
    competition_ranks,
    deduction_earned,
    marks_earned,
    round_half_up,
    round_score,
    share_bands,
    share_grade,
    share_linear,
    share_rank,
    share_satisfaction,
    share_target_ratio,
    veto_codes_hit,
)

ZERO = Decimal(0)
OUTSIDE_SUBJECTS = frozenset({"bonus", "deduction", "veto"})
# Which source's value counts when several sent one for the same object, metric and period.
SOURCE_PRECEDENCE = ("authoritative", "survey", "unit")
# Stored precision of the explain tree's unrounded numbers (result_leaf.share, result_subject.weight).
SHARE_PLACES = 40
WEIGHT_PLACES = 12


@dataclass(frozen=True)
class Leaf:
    code: str
    method: str | None
    direction: str
    marks: Decimal
    subjects: tuple[str, ...]
    rule: ScoringRule | None


@dataclass(frozen=True)
class ObjectInputs:
    object_id: uuid.UUID
    peer_group: str
    values: Mapping[str, Decimal] = field(default_factory=dict)  # leaf code -> the value that counts
    targets: Mapping[str, tuple[Decimal, Decimal | None]] = field(default_factory=dict)  # (target, baseline)
    ratings: Mapping[tuple[str, str], Sequence[str]] = field(default_factory=dict)  # (leaf, subject) -> grades
    veto_codes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class PlanRules:
    places: int
    missing_rule: str  # zero | renormalize
    total_points: Decimal
    bonus_cap: Decimal | None  # None: the framework's total points
    subject_weights: Mapping[str, Decimal]
    grades: Sequence[tuple[str, Decimal]]  # best first, falling min_score, the last 0
    top_grade_quota: Decimal | None


@dataclass(frozen=True)
class LeafResult:
    object_id: uuid.UUID
    code: str
    subject: str
    value: Decimal | None
    target: Decimal | None
    baseline: Decimal | None
    share: Decimal | None  # unrounded; stored with SHARE_PLACES
    marks: Decimal
    earned: Decimal
    missing: bool


@dataclass(frozen=True)
class SubjectResult:
    object_id: uuid.UUID
    subject: str
    weight: Decimal  # renormalized, stored with WEIGHT_PLACES
    earned: Decimal
    marks: Decimal
    score: Decimal | None
    contribution: Decimal


@dataclass(frozen=True)
class ObjectResult:
    object_id: uuid.UUID
    peer_group: str
    base: Decimal
    bonus: Decimal
    deduction: Decimal
    composite: Decimal
    grade_by_score: str
    veto_cap: str | None
    veto_codes: tuple[str, ...]
    quota_demoted: bool
    grade: str
    rank: int
    peer_count: int


@dataclass(frozen=True)
class PlanScores:
    leaves: list[LeafResult]
    subjects: list[SubjectResult]
    objects: list[ObjectResult]


def value_that_counts(by_source: Mapping[str, Decimal]) -> Decimal | None:
    """authoritative > survey > unit."""
    for source in SOURCE_PRECEDENCE:
        if source in by_source:
            return by_source[source]
    return None


def leaf_subjects(leaf: Leaf) -> tuple[str, ...]:
    """The subjects a leaf's rows are written for: '' for leaves outside subjects (or for none)."""
    if leaf.method in OUTSIDE_SUBJECTS or not leaf.subjects:
        return ("",)
    return leaf.subjects


def leaf_share(
    leaf: Leaf, obj: ObjectInputs, subject: str, positions: Mapping[tuple[str, uuid.UUID], tuple[int, int]]
) -> Decimal | None:
    """The share of one value leaf (or None: missing) by the contract's functions."""
    rule, value = leaf.rule, obj.values.get(leaf.code)
    target, baseline = obj.targets.get(leaf.code, (None, None))
    if isinstance(rule, TargetRatioParams):
        return share_target_ratio(rule, actual=value, target=target, direction=leaf.direction)
    if isinstance(rule, LinearParams):
        return share_linear(rule, actual=value, target=target, baseline=baseline, direction=leaf.direction)
    if isinstance(rule, BandsParams):
        return share_bands(rule, actual=value, direction=leaf.direction)
    if isinstance(rule, RankParams):
        position = positions.get((leaf.code, obj.object_id))
        return None if position is None else share_rank(rule, position=position[0], peer_count=position[1])
    if isinstance(rule, GradeParams):
        return share_grade(rule, obj.ratings.get((leaf.code, subject), ()))
    if isinstance(rule, SatisfactionParams):
        return share_satisfaction(rule, index=value)
    return None


def rank_positions(
    leaves: Sequence[Leaf], objects: Sequence[ObjectInputs]
) -> dict[tuple[str, uuid.UUID], tuple[int, int]]:
    """(rank leaf, object) -> (competition position, objects with a value) within the peer group."""
    found: dict[tuple[str, uuid.UUID], tuple[int, int]] = {}
    groups: dict[str, list[ObjectInputs]] = defaultdict(list)
    for obj in objects:
        groups[obj.peer_group].append(obj)
    for leaf in leaves:
        if not isinstance(leaf.rule, RankParams):
            continue
        for members in groups.values():
            values = [m.values.get(leaf.code) for m in members]
            positions = competition_ranks(values, leaf.direction)
            present = sum(1 for p in positions if p is not None)
            for member, position in zip(members, positions, strict=True):
                if position is not None:
                    found[(leaf.code, member.object_id)] = (position, present)
    return found


def score_leaves(rules: PlanRules, leaves: Sequence[Leaf], objects: Sequence[ObjectInputs]) -> list[LeafResult]:
    positions = rank_positions(leaves, objects)
    rows = []
    for obj in objects:
        for leaf in leaves:
            value = obj.values.get(leaf.code)
            target, baseline = obj.targets.get(leaf.code, (None, None))
            for subject in leaf_subjects(leaf):
                share: Decimal | None = None
                if isinstance(leaf.rule, BonusParams):
                    earned, missing, marks = bonus_earned(leaf.rule, count=value), value is None, ZERO
                elif isinstance(leaf.rule, DeductionParams):
                    earned, missing, marks = -deduction_earned(leaf.rule, count=value), value is None, ZERO
                    earned += ZERO  # no negative zero
                elif isinstance(leaf.rule, VetoParams):
                    earned, missing, marks = ZERO, False, ZERO
                else:
                    share = leaf_share(leaf, obj, subject, positions)
                    missing = share is None
                    earned = ZERO if share is None else marks_earned(leaf.marks, share, rules.places)
                    marks = ZERO if missing and rules.missing_rule == "renormalize" else leaf.marks
                rows.append(
                    LeafResult(
                        obj.object_id, leaf.code, subject, value, target, baseline, share, marks, earned, missing
                    )
                )
    return rows


def roll_up_subjects(
    rules: PlanRules, leaves: Sequence[Leaf], objects: Sequence[ObjectInputs], rows: Sequence[LeafResult]
) -> list[SubjectResult]:
    methods = {leaf.code: leaf.method for leaf in leaves}
    earned: dict[tuple[uuid.UUID, str], Decimal] = defaultdict(Decimal)
    marks: dict[tuple[uuid.UUID, str], Decimal] = defaultdict(Decimal)
    for row in rows:
        if methods[row.code] not in OUTSIDE_SUBJECTS:
            earned[(row.object_id, row.subject)] += row.earned
            marks[(row.object_id, row.subject)] += row.marks
    results = []
    with localcontext(SCORE_CONTEXT):
        for obj in objects:
            present = {s: w for s, w in rules.subject_weights.items() if marks[(obj.object_id, s)] > 0}
            present_weight = sum(present.values(), ZERO)
            for subject, weight in rules.subject_weights.items():
                e, m = earned[(obj.object_id, subject)], marks[(obj.object_id, subject)]
                if m > 0:
                    results.append(
                        SubjectResult(
                            obj.object_id,
                            subject,
                            round_half_up(weight / present_weight, WEIGHT_PLACES),
                            e,
                            m,
                            round_score(100 * e / m, rules.places),
                            round_score(rules.total_points * weight * e / (present_weight * m), rules.places),
                        )
                    )
                else:
                    results.append(SubjectResult(obj.object_id, subject, ZERO, e, m, None, ZERO))
    return results


def grade_index(grades: Sequence[tuple[str, Decimal]], composite: Decimal) -> int:
    """Index of the best grade whose min_score <= composite (the last grade starts at 0)."""
    return next((i for i, (_, minimum) in enumerate(grades) if minimum <= composite), len(grades) - 1)


def veto_of(
    leaves: Sequence[Leaf], grades: Sequence[tuple[str, Decimal]], codes: frozenset[str]
) -> tuple[tuple[str, ...], int | None]:
    """The codes hit by veto leaves (whose cap is a grade of the scheme) and the lowest cap's index."""
    index = {g: i for i, (g, _) in enumerate(grades)}
    hit: set[str] = set()
    cap: int | None = None
    for leaf in leaves:
        rule = leaf.rule
        if isinstance(rule, VetoParams) and rule.cap_grade in index and veto_codes_hit(rule, codes):
            hit |= set(rule.events) & codes
            cap = max(cap if cap is not None else 0, index[rule.cap_grade])
    return tuple(sorted(hit)), cap


def score_plan(rules: PlanRules, leaves: Sequence[Leaf], objects: Sequence[ObjectInputs]) -> PlanScores:
    """Every number of a result version, as docs/scoring.md defines it."""
    rows = score_leaves(rules, leaves, objects)
    subjects = roll_up_subjects(rules, leaves, objects, rows)
    methods = {leaf.code: leaf.method for leaf in leaves}
    bonus_cap = rules.bonus_cap if rules.bonus_cap is not None else rules.total_points
    grades = list(rules.grades)
    drafts = []
    for obj in objects:
        base = sum((s.contribution for s in subjects if s.object_id == obj.object_id), ZERO)
        mine = [r for r in rows if r.object_id == obj.object_id]
        bonus = min(sum((r.earned for r in mine if methods[r.code] == "bonus"), ZERO), bonus_cap)
        deduction = -sum((r.earned for r in mine if methods[r.code] == "deduction"), ZERO) + ZERO
        composite = max(ZERO, base + bonus - deduction)
        by_score = grade_index(grades, composite)
        codes, cap = veto_of(leaves, grades, obj.veto_codes)
        drafts.append((obj, base, bonus, deduction, composite, by_score, codes, cap, max(by_score, cap or 0)))
    # The quota: at most floor(q x N) objects keep the best grade, by composite; a tie at the
    # boundary moves every tied object down.
    slots = None if rules.top_grade_quota is None else math.floor(rules.top_grade_quota * len(objects))
    best = [d[4] for d in drafts if d[8] == 0]
    results = []
    for obj, base, bonus, deduction, composite, by_score, codes, cap, final in drafts:
        demoted = (
            final == 0
            and slots is not None
            and len(grades) > 1
            and sum(1 for other in best if other >= composite) > slots
        )
        peers = [d[4] for d in drafts if d[0].peer_group == obj.peer_group]
        results.append(
            ObjectResult(
                object_id=obj.object_id,
                peer_group=obj.peer_group,
                base=base,
                bonus=bonus,
                deduction=deduction,
                composite=composite,
                grade_by_score=grades[by_score][0],
                veto_cap=None if cap is None else grades[cap][0],
                veto_codes=codes,
                quota_demoted=demoted,
                grade=grades[1 if demoted else final][0],
                rank=1 + sum(1 for other in peers if other > composite),
                peer_count=len(peers),
            )
        )
    return PlanScores(rows, subjects, results)
