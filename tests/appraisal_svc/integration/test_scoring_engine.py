# ruff: noqa: E501 - long SQL statements read better unbroken
"""The set-based engine equals the reference roll-up (``scoring/logic.py`` over the contract's
functions) on every number: random small plans are written to PostgreSQL (objects in peer groups,
leaves of every method and direction, values from several sources or none, targets, ratings, veto
events, quota), scored by the engine and compared with the oracle exactly."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal, localcontext
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from contracts.scoring import (
    SCORE_CONTEXT,
    Band,
    BandsParams,
    BonusParams,
    DeductionParams,
    GradeParams,
    LinearParams,
    RankParams,
    SatisfactionParams,
    TargetRatioParams,
    VetoParams,
    hash_line,
    object_digest,
    results_hash,
)
from services.appraisal_svc.scoring import engine
from services.appraisal_svc.scoring.logic import (
    SHARE_PLACES,
    Leaf,
    ObjectInputs,
    PlanRules,
    score_plan,
    value_that_counts,
)

D = Decimal
SUBJECTS = ("office", "public")
CODES = ("fraud", "accident", "other")
GRADES = [("A", D(90)), ("B", D(75)), ("C", D(60)), ("D", D(0))]

# Few distinct numbers, so ties, exact shares and boundaries come up often.
numbers = st.sampled_from(
    [D(v) for v in ("-5", "0", "1", "7", "9.5", "10", "33.33", "50", "75", "99.99", "100", "150")]
)
small = st.decimals(min_value=-20, max_value=300, places=2, allow_nan=False, allow_infinity=False)
values = st.one_of(st.none(), numbers, small)
marks = st.sampled_from([D(v) for v in ("1", "3", "7", "10", "12.5", "20", "33.3333")])
directions = st.sampled_from(["higher_better", "lower_better", "target_band"])


@st.composite
def rules(draw: Any, method: str) -> Any:
    if method == "target_ratio":
        return TargetRatioParams(cap=draw(st.sampled_from([D(1), D("1.2")])), zero_point=draw(st.none() | numbers))
    if method == "linear":
        if draw(st.booleans()):
            return LinearParams(floor_from="baseline", cap=draw(st.sampled_from([D(1), D("1.5")])))
        return LinearParams(floor=draw(numbers), cap=D(1))
    if method == "bands":
        thresholds = sorted(set(draw(st.lists(numbers, min_size=1, max_size=4))))
        shares = draw(
            st.lists(
                st.sampled_from([D(0), D("0.3"), D("0.5"), D(1)]), min_size=len(thresholds), max_size=len(thresholds)
            )
        )
        return BandsParams(bands=[Band(threshold=t, share=s) for t, s in zip(thresholds, shares, strict=True)])
    if method == "rank":
        return RankParams(floor_share=draw(st.sampled_from([D(0), D("0.6"), D("0.35")])))
    if method == "grade":
        return GradeParams(
            scale="ABCD",
            shares={"A": D(1), "B": D("0.8"), "C": D("0.6"), "D": D("0.3")},
            trim_share=draw(st.sampled_from([D(0), D("0.1"), D("0.25")])),
            min_raters=draw(st.integers(1, 3)),
        )
    if method == "satisfaction":
        return SatisfactionParams(zero_index=D(60), full_index=draw(st.sampled_from([D(95), D(100)])))
    if method == "bonus":
        return BonusParams(per_item=draw(st.sampled_from([D("0.5"), D(2)])), cap=draw(st.sampled_from([D(1), D(5)])))
    if method == "deduction":
        return DeductionParams(
            per_item=draw(st.sampled_from([D(1), D("2.5")])), cap=draw(st.sampled_from([D(2), D(10)]))
        )
    return VetoParams(
        events=draw(st.lists(st.sampled_from(CODES), min_size=1, max_size=2, unique=True)),
        cap_grade=draw(st.sampled_from(["B", "C", "D"])),
    )


METHODS = ["target_ratio", "linear", "bands", "rank", "grade", "satisfaction", "bonus", "deduction", "veto"]


# Leaves every random plan also gets, with parameters that can score (as publication's checks
# would let through): without them a random rule rarely fits its direction, and a faster engine
# could be wrong on a method no example reached.
@st.composite
def scorable_leaves(draw: Any) -> list[tuple[str, str, Any]]:
    # target_ratio lower_better needs a zero point above the targets (numbers reach 150, values 300).
    zero_point = draw(st.sampled_from([D(160), D(250)]))
    kinds = [
        (
            "target_ratio",
            "lower_better",
            TargetRatioParams(zero_point=zero_point, cap=draw(st.sampled_from([D(1), D("1.5")]))),
        ),
        ("target_ratio", "higher_better", TargetRatioParams(cap=D("1.2"))),
        ("linear", "higher_better", LinearParams(floor_from="baseline", cap=draw(st.sampled_from([D(1), D("1.5")])))),
        ("linear", "lower_better", LinearParams(floor_from="baseline", cap=D(1))),
        ("rank", draw(st.sampled_from(["higher_better", "lower_better"])), draw(rules("rank"))),
        ("grade", "higher_better", draw(rules("grade"))),
        ("bonus", "higher_better", draw(rules("bonus"))),
        ("deduction", "lower_better", draw(rules("deduction"))),
    ]
    return draw(st.lists(st.sampled_from(kinds), min_size=3, max_size=5, unique_by=lambda k: k[:2]))


@st.composite
def plans(draw: Any) -> dict[str, Any]:
    leaves = []
    for n, method in enumerate(draw(st.lists(st.sampled_from(METHODS), min_size=1, max_size=6))):
        leaves.append(
            Leaf(
                code=f"L{n}",
                method=method,
                direction=draw(directions),
                marks=draw(marks),
                subjects=tuple(draw(st.lists(st.sampled_from(SUBJECTS), max_size=2, unique=True))),
                rule=draw(rules(method)),
            )
        )
    for n, (method, direction, rule) in enumerate(draw(scorable_leaves())):
        leaves.append(
            Leaf(
                code=f"S{n}",
                method=method,
                direction=direction,
                marks=draw(marks),
                subjects=tuple(draw(st.lists(st.sampled_from(SUBJECTS), min_size=1, max_size=2, unique=True))),
                rule=rule,
            )
        )
    objects = []
    for _ in range(draw(st.integers(1, 6))):
        by_leaf = {}
        for leaf in leaves:
            sources = draw(
                st.dictionaries(st.sampled_from(["unit", "survey", "authoritative"]), numbers | small, max_size=2)
            )
            if sources:
                by_leaf[leaf.code] = sources
        targets = {leaf.code: (draw(numbers), draw(st.none() | numbers)) for leaf in leaves if draw(st.booleans())}
        # The scorable leaves always have a target and a baseline (on either side of it).
        targets |= {leaf.code: (draw(numbers), draw(numbers)) for leaf in leaves if leaf.code.startswith("S")}
        ratings = {
            (leaf.code, s): draw(st.lists(st.sampled_from("ABCD"), max_size=5))
            for leaf in leaves
            if leaf.method == "grade"
            for s in leaf.subjects
        }
        objects.append(
            {
                "id": uuid.uuid4(),
                "peer_group": draw(st.sampled_from(["a", "b"])),
                "sources": by_leaf,
                "targets": targets,
                "ratings": ratings,
                "veto": draw(st.lists(st.sampled_from(CODES), max_size=2, unique=True)),
            }
        )
    weights = draw(
        st.sampled_from(
            [{"office": D(1)}, {"office": D("0.6"), "public": D("0.4")}, {"office": D("0.3333"), "public": D("0.6667")}]
        )
    )
    return {
        "leaves": leaves,
        "objects": objects,
        "rules": PlanRules(
            places=draw(st.integers(0, 3)),
            missing_rule=draw(st.sampled_from(["zero", "renormalize"])),
            total_points=draw(st.sampled_from([D(100), D("50.5")])),
            bonus_cap=draw(st.none() | st.sampled_from([D(0), D(3)])),
            subject_weights=weights,
            grades=GRADES,
            top_grade_quota=draw(st.none() | st.sampled_from([D("0.2"), D("0.5"), D("0.34")])),
        ),
    }


async def write_plan(db: Any, base: dict[str, Any], spec: dict[str, Any]) -> uuid.UUID:
    rules: PlanRules = spec["rules"]
    plan_id = uuid.uuid4()
    now = dt.datetime.now(dt.UTC)
    scheme = {
        "grades": [{"grade": g, "min_score": str(m)} for g, m in rules.grades],
        "top_grade_quota": None if rules.top_grade_quota is None else str(rules.top_grade_quota),
    }
    snapshot = {"code": "p", "name": "p", "total_points": str(rules.total_points), "policy": {}, "indicators": []}
    framework_id = uuid.uuid4()
    await db.execute(
        text(
            "INSERT INTO appraisal.framework_version (id, lineage_id, version, code, name, org_path, content_hash, "
            "snapshot, published_at, received_at) VALUES (:id, :id, 1, 'p', 'p', '/p', 'x', CAST(:s AS jsonb), now(), now())"
        ),
        {"id": framework_id, "s": json.dumps(snapshot)},
    )
    await db.execute(
        text(
            "INSERT INTO appraisal.plan (id, name, cycle_id, framework_id, framework_hash, owner_unit_id, status, "
            "subject_weights, grade_scheme, missing_rule, score_places, bonus_cap, objection_seconds, submission_deadline, "
            "verification_deadline, created_by, created_at, updated_at, lock_version) VALUES (:id, 'p', :cycle, :fw, 'x', "
            ":unit, 'scoring', CAST(:w AS jsonb), CAST(:g AS jsonb), :missing, :places, :bonus_cap, 604800, :now, :now, 'p', "
            ":now, :now, 1)"
        ),
        {
            "id": plan_id,
            "cycle": base["cycle"],
            "fw": framework_id,
            "unit": base["unit"],
            "w": json.dumps({k: str(v) for k, v in rules.subject_weights.items()}),
            "g": json.dumps(scheme),
            "missing": rules.missing_rule,
            "places": rules.places,
            "bonus_cap": rules.bonus_cap,
            "now": now,
        },
    )
    for leaf in spec["leaves"]:
        await db.execute(
            text(
                "INSERT INTO appraisal.plan_leaf (plan_id, indicator_code, metric, name, kind, direction, weight, method, "
                "scoring, evaluation_subjects) VALUES (:p, :c, :m, :c, 'quantitative', :d, :w, :method, CAST(:s AS jsonb), :subjects)"
            ),
            {
                "p": plan_id,
                "c": leaf.code,
                "m": f"{plan_id}-{leaf.code}",
                "d": leaf.direction,
                "w": leaf.marks,
                "method": leaf.method,
                "s": json.dumps(leaf.rule.model_dump(mode="json")),
                "subjects": list(leaf.subjects),
            },
        )
    for i, obj in enumerate(spec["objects"]):
        object_id = base["objects"][i]
        await db.execute(
            text("INSERT INTO appraisal.plan_object (plan_id, object_id, peer_group) VALUES (:p, :o, :g)"),
            {"p": plan_id, "o": object_id, "g": obj["peer_group"]},
        )
        for code, sources in obj["sources"].items():
            for source, value in sources.items():
                await db.execute(
                    text(
                        "INSERT INTO appraisal.data_point (id, object_id, metric, period, source, revision, current, value, "
                        "status, submitted_by, submitted_org_path, submitted_at, lock_version) VALUES (:id, :o, :m, '2026', :s, "
                        "1, true, :v, 'accepted', 'p', '/p', now(), 1)"
                    ),
                    {"id": uuid.uuid4(), "o": object_id, "m": f"{plan_id}-{code}", "s": source, "v": value},
                )
        # A rejected value and one of another period never count.
        await db.execute(
            text(
                "INSERT INTO appraisal.data_point (id, object_id, metric, period, source, revision, current, value, status, "
                "submitted_by, submitted_org_path, submitted_at, lock_version) SELECT gen_random_uuid(), :o, :p || '-' || "
                "indicator_code, period, 'authoritative', 1, true, 999, status, 'p', '/p', now(), 1 FROM appraisal.plan_leaf, "
                "(VALUES ('2025', 'accepted'), ('2026', 'rejected')) AS x(period, status) WHERE plan_id = :plan "
                "ON CONFLICT DO NOTHING"
            ),
            {"o": object_id, "p": str(plan_id), "plan": plan_id},
        )
        for code, (target, baseline) in obj["targets"].items():
            await db.execute(
                text(
                    "INSERT INTO appraisal.target (id, plan_id, object_id, indicator_code, baseline, target, status, set_by, "
                    "set_at, lock_version) VALUES (:id, :p, :o, :c, :b, :t, 'approved', 'p', now(), 1)"
                ),
                {"id": uuid.uuid4(), "p": plan_id, "o": object_id, "c": code, "b": baseline, "t": target},
            )
        for (code, subject), grades in obj["ratings"].items():
            for n, grade in enumerate(grades):
                assignment = uuid.uuid4()
                await db.execute(
                    text(
                        "INSERT INTO appraisal.expert_assignment (id, plan_id, expert, expert_org_path, object_id, "
                        "indicator_code, subject, assigned_by, assigned_at) VALUES (:id, :p, :e, '/x', :o, :c, :s, 'p', now())"
                    ),
                    {"id": assignment, "p": plan_id, "e": f"e{n}", "o": object_id, "c": code, "s": subject},
                )
                await db.execute(
                    text(
                        "INSERT INTO appraisal.expert_rating (assignment_id, plan_id, object_id, indicator_code, subject, "
                        "grade, rated_at) VALUES (:a, :p, :o, :c, :s, :g, now())"
                    ),
                    {"a": assignment, "p": plan_id, "o": object_id, "c": code, "s": subject, "g": grade},
                )
        for code in obj["veto"]:
            await db.execute(
                text(
                    "INSERT INTO appraisal.veto_event (id, plan_id, object_id, code, description, recorded_by, recorded_at) "
                    "VALUES (gen_random_uuid(), :p, :o, :c, 'd', 'p', now())"
                ),
                {"p": plan_id, "o": object_id, "c": code},
            )
        # A withdrawn veto event never counts.
        await db.execute(
            text(
                "INSERT INTO appraisal.veto_event (id, plan_id, object_id, code, description, recorded_by, recorded_at, "
                "withdrawn_at, withdrawn_by) VALUES (gen_random_uuid(), :p, :o, 'fraud', 'd', 'p', now(), now(), 'p')"
            ),
            {"p": plan_id, "o": object_id},
        )
    return plan_id


async def base_world(db: Any) -> dict[str, Any]:
    unit, cycle = uuid.uuid4(), uuid.uuid4()
    # Up to six objects of a plan, and a seventh that is never in one (see score_and_compare).
    objects = [uuid.uuid4() for _ in range(7)]
    await db.execute(
        text(
            "INSERT INTO appraisal.org_unit (id, code, name, kind, org_path, peer_group, deleted, lock_version, created_at, "
            "updated_at) VALUES (:id, 'p', 'P', 'province', :path, 'p', false, 1, now(), now())"
        ),
        {"id": unit, "path": f"/p{unit.hex[:8]}"},
    )
    for n, obj in enumerate(objects):
        await db.execute(
            text(
                "INSERT INTO appraisal.appraisal_object (id, kind, org_unit_id, code, name, peer_group, created_by, "
                "created_at, lock_version) VALUES (:id, 'project', :unit, :code, :code, 'p', 'p', now(), 1)"
            ),
            {"id": obj, "unit": unit, "code": f"o{n}"},
        )
    await db.execute(
        text(
            "INSERT INTO appraisal.cycle (id, kind, label, starts_on, ends_on, org_path, created_by, created_at) "
            "VALUES (:id, 'annual', '2026', '2026-01-01', '2026-12-31', :path, 'p', now())"
        ),
        {"id": cycle, "path": f"/p{unit.hex[:8]}"},
    )
    return {"unit": unit, "cycle": cycle, "objects": objects}


def oracle(spec: dict[str, Any], base: dict[str, Any]) -> Any:
    objects = [
        ObjectInputs(
            object_id=base["objects"][i],
            peer_group=obj["peer_group"],
            values={code: v for code, by in obj["sources"].items() if (v := value_that_counts(by)) is not None},
            targets=obj["targets"],
            ratings=obj["ratings"],
            veto_codes=frozenset(obj["veto"]),
        )
        for i, obj in enumerate(spec["objects"])
    ]
    return score_plan(spec["rules"], spec["leaves"], objects)


def stored_share(share: Decimal) -> Decimal:
    """What numeric(60,40) keeps of a share: 40 places, half away from zero."""
    with localcontext(SCORE_CONTEXT):
        return share.quantize(D(1).scaleb(-SHARE_PLACES))


async def no_progress(_: float) -> None:
    return None


async def recomputed_results_hash(db: Any, run_id: uuid.UUID) -> str:
    """The results hash as anyone recomputes it from the published rows (contracts.scoring)."""

    async def rows(table: str) -> list[Any]:
        return list((await db.execute(text(f"SELECT * FROM appraisal.{table} WHERE run_id = :r"), {"r": run_id})).all())

    subjects: dict[uuid.UUID, list[Any]] = {}
    for s in sorted(await rows("result_subject"), key=lambda s: s.subject.encode()):
        subjects.setdefault(s.object_id, []).append(s)
    leaves: dict[uuid.UUID, list[Any]] = {}
    for leaf in sorted(await rows("result_leaf"), key=lambda x: (x.indicator_code.encode(), x.subject.encode())):
        leaves.setdefault(leaf.object_id, []).append(leaf)
    digests = []
    for r in await rows("result"):
        object_line = hash_line(
            r.object_id,
            "",
            "",
            r.peer_group,
            r.base,
            r.bonus,
            r.deduction,
            r.composite,
            r.grade_by_score,
            r.veto_cap,
            ",".join(r.veto_codes),
            r.quota_demoted,
            r.grade,
            r.rank,
            r.peer_count,
        )
        subject_lines = [
            hash_line("", s.subject, s.weight, s.earned, s.marks, s.score, s.contribution)
            for s in subjects.get(r.object_id, [])
        ]
        leaf_rows = [
            (x.indicator_code, x.subject, x.value, x.target, x.baseline, x.share, x.marks, x.earned, x.missing)
            for x in leaves.get(r.object_id, [])
        ]
        digests.append((str(r.object_id), object_digest(object_line, subject_lines, leaf_rows)))
    return results_hash(digests)


async def score_and_compare(db: Any, base: dict[str, Any], spec: dict[str, Any]) -> Any:
    """Write the plan, score it with the engine and assert every stored number equals the oracle's."""
    plan_id = await write_plan(db, base, spec)
    # An object outside the plan with the best-source value of every metric and a stray target
    # row: the engine reads values by metric and period, and must still score only the plan's objects.
    outsider = base["objects"][6]
    await db.execute(
        text(
            "INSERT INTO appraisal.data_point (id, object_id, metric, period, source, revision, current, value, status, "
            "submitted_by, submitted_org_path, submitted_at, lock_version) SELECT gen_random_uuid(), :o, metric, '2026', "
            "'authoritative', 1, true, 77, 'accepted', 'p', '/p', now(), 1 FROM appraisal.plan_leaf WHERE plan_id = :p "
            "ON CONFLICT DO NOTHING"
        ),
        {"o": outsider, "p": plan_id},
    )
    await db.execute(
        text(
            "INSERT INTO appraisal.target (id, plan_id, object_id, indicator_code, baseline, target, status, set_by, "
            "set_at, lock_version) SELECT gen_random_uuid(), :p, :o, indicator_code, 1, 50, 'approved', 'p', now(), 1 "
            "FROM appraisal.plan_leaf WHERE plan_id = :p"
        ),
        {"o": outsider, "p": plan_id},
    )
    run_id = uuid.uuid4()
    await db.execute(
        text(
            "INSERT INTO appraisal.scoring_run (id, plan_id, version, status, reason, requested_by, requested_at) "
            "VALUES (:id, :p, 1, 'running', 't', 't', now())"
        ),
        {"id": run_id, "p": plan_id},
    )
    inputs = await engine.plan_inputs(db, plan_id)
    figures = await engine.score(db, plan=inputs, run_id=run_id, report=no_progress)
    expected = oracle(spec, base)
    assert figures.results_hash == await recomputed_results_hash(db, run_id)

    rows = (await db.execute(text("SELECT * FROM appraisal.result_leaf WHERE run_id = :r"), {"r": run_id})).all()
    leaves = {(r.object_id, r.indicator_code, r.subject): r for r in rows}
    # One row per (object, leaf, subject): no key constraint holds it (0004), the engine does.
    assert len(rows) == len(leaves) == len(expected.leaves)
    for want in expected.leaves:
        got = leaves[(want.object_id, want.code, want.subject)]
        share = None if want.share is None else stored_share(want.share)
        assert (got.value, got.target, got.baseline, got.share, got.marks, got.earned, got.missing) == (
            want.value,
            want.target,
            want.baseline,
            share,
            want.marks,
            want.earned,
            want.missing,
        ), (want, got)
    subjects = {
        (r.object_id, r.subject): r
        for r in (
            await db.execute(text("SELECT * FROM appraisal.result_subject WHERE run_id = :r"), {"r": run_id})
        ).all()
    }
    assert len(subjects) == len(expected.subjects)
    for want_s in expected.subjects:
        got_s = subjects[(want_s.object_id, want_s.subject)]
        assert (got_s.weight, got_s.earned, got_s.marks, got_s.score, got_s.contribution) == (
            want_s.weight,
            want_s.earned,
            want_s.marks,
            want_s.score,
            want_s.contribution,
        ), (want_s, got_s)
    results = {
        r.object_id: r
        for r in (await db.execute(text("SELECT * FROM appraisal.result WHERE run_id = :r"), {"r": run_id})).all()
    }
    assert len(results) == len(expected.objects)
    for want_o in expected.objects:
        got_o = results[want_o.object_id]
        assert (
            got_o.peer_group,
            got_o.base,
            got_o.bonus,
            got_o.deduction,
            got_o.composite,
            got_o.grade_by_score,
            got_o.veto_cap,
            tuple(got_o.veto_codes),
            got_o.quota_demoted,
            got_o.grade,
            got_o.rank,
            got_o.peer_count,
        ) == (
            want_o.peer_group,
            want_o.base,
            want_o.bonus,
            want_o.deduction,
            want_o.composite,
            want_o.grade_by_score,
            want_o.veto_cap,
            want_o.veto_codes,
            want_o.quota_demoted,
            want_o.grade,
            want_o.rank,
            want_o.peer_count,
        ), (want_o, got_o)
    return expected


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(spec=plans())
async def test_the_engine_equals_the_reference_on_every_number(db, spec):
    base = await base_world(db)
    savepoint = await db.begin_nested()
    try:
        await score_and_compare(db, base, spec)
    finally:
        await savepoint.rollback()


def every_method_plan() -> dict[str, Any]:
    """Six objects and a leaf of every method and direction, with values that land strictly inside
    each leaf's range (a share that is a true ratio, not 0, the cap or missing) for some objects."""
    office, both = ("office",), ("office", "public")
    bands = [Band(threshold=D(t), share=D(s)) for t, s in ((20, "0.3"), (50, "0.6"), (80, "1"))]
    falling = [Band(threshold=D(t), share=D(s)) for t, s in ((20, "1"), (50, "0.6"), (80, "0.3"))]
    peak = [Band(threshold=D(t), share=D(s)) for t, s in ((20, "0.5"), (50, "1"), (80, "0.4"))]
    grade = GradeParams(
        scale="ABCD", shares={"A": D(1), "B": D("0.8"), "C": D("0.6"), "D": D("0.3")}, trim_share=D("0.2"), min_raters=2
    )
    specs: list[tuple[str, str, str, Any, tuple[str, ...], list[str | None]]] = [
        (
            "TH",
            "target_ratio",
            "higher_better",
            TargetRatioParams(cap=D("1.2")),
            office,
            ["30", "45", "60", "100", "120", None],
        ),
        (
            "TL",
            "target_ratio",
            "lower_better",
            TargetRatioParams(zero_point=D(200)),
            office,
            ["80", "190", "10", "250", "125", "50"],
        ),
        ("LH", "linear", "higher_better", LinearParams(floor=D(10)), office, ["20", "33.33", "5", "70", "90", "45"]),
        (
            "LB",
            "linear",
            "lower_better",
            LinearParams(floor_from="baseline"),
            office,
            ["50", "70", "85", "20", "10", "61"],
        ),
        (
            "LC",
            "linear",
            "higher_better",
            LinearParams(floor_from="baseline", cap=D("1.5")),
            both,
            ["50", "41", "160", "99", "30", "70"],
        ),
        ("BH", "bands", "higher_better", BandsParams(bands=bands), office, ["10", "20", "49", "50", "80", "99"]),
        ("BL", "bands", "lower_better", BandsParams(bands=falling), office, ["10", "20", "49", "50", "80", "99"]),
        ("BT", "bands", "target_band", BandsParams(bands=peak), office, ["10", "20", "49", "50", "80", "99"]),
        ("RH", "rank", "higher_better", RankParams(floor_share=D("0.6")), office, ["3", "9", "9", "1", "7", "5"]),
        ("RL", "rank", "lower_better", RankParams(floor_share=D("0.35")), both, ["3", "9", "9", "1", None, "5"]),
        ("GR", "grade", "higher_better", grade, both, [None] * 6),
        (
            "SA",
            "satisfaction",
            "higher_better",
            SatisfactionParams(zero_index=D(60), full_index=D(95)),
            office,
            ["70", "59", "95", "81.5", "101", None],
        ),
        (
            "PB",
            "bonus",
            "higher_better",
            BonusParams(per_item=D("0.5"), cap=D(2)),
            (),
            ["1", "3", "9", "0", "-2", None],
        ),
        (
            "PD",
            "deduction",
            "lower_better",
            DeductionParams(per_item=D(1), cap=D(3)),
            (),
            ["1", "2.7", "5", "0", None, "3"],
        ),
        ("VT", "veto", "higher_better", VetoParams(events=["fraud"], cap_grade="C"), (), [None] * 6),
    ]
    targets = {
        "TH": (D(90), None),
        "TL": (D(50), None),
        "LH": (D(70), None),
        "LB": (D(20), D(80)),
        "LC": (D(100), D(40)),
    }
    leaves = [
        Leaf(code=code, method=method, direction=direction, marks=D("7.5"), subjects=subjects, rule=rule)
        for code, method, direction, rule, subjects, _ in specs
    ]
    ratings = [["A", "B", "C"], ["D"], ["A", "A", "B", "C", "D"], ["B", "B"], [], ["C", "D", "A"]]
    objects = [
        {
            "id": uuid.uuid4(),
            "peer_group": "a" if i < 4 else "b",
            "sources": {code: {"unit": D(v)} for code, *_, vs in specs if (v := vs[i]) is not None},
            "targets": targets,
            "ratings": {("GR", s): ratings[(i + n) % 6] for n, s in enumerate(("office", "public"))},
            "veto": ["fraud"] if i == 3 else [],
        }
        for i in range(6)
    ]
    rules = PlanRules(
        places=2,
        missing_rule="renormalize",
        total_points=D(100),
        bonus_cap=D(3),
        subject_weights={"office": D("0.7"), "public": D("0.3")},
        grades=GRADES,
        top_grade_quota=D("0.34"),
    )
    return {"leaves": leaves, "objects": objects, "rules": rules}


async def test_every_method_and_direction_is_scored_by_the_engine_exactly_as_by_the_reference(db):
    spec = every_method_plan()
    base = await base_world(db)
    expected = await score_and_compare(db, base, spec)
    # The plan reaches every method's inner range, so the equality above covers each formula.
    caps = {
        leaf.code: getattr(leaf.rule, "cap", D(1))
        for leaf in spec["leaves"]
        if leaf.method not in ("bonus", "deduction")
    }
    inside = {row.code for row in expected.leaves if row.share is not None and 0 < row.share < caps.get(row.code, D(1))}
    earning = {row.code for row in expected.leaves if row.code in ("PB", "PD") and row.earned != 0}
    assert inside | earning == {leaf.code for leaf in spec["leaves"]} - {"VT"}
    assert any(o.veto_cap == "C" and o.grade_by_score != o.grade for o in expected.objects)
