"""The pure rules of review, objection and publication, and the public answers' helpers."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.appraisal_results import ObjectResult, objects_digest
from services.appraisal_svc.publication import logic

NOW = dt.datetime(2027, 1, 31, 8, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(days=1)
EARLIER = NOW - dt.timedelta(days=1)
DONE = logic.RunState(latest_succeeded_version=1, active_runs=0)


def problem(current: str, to: str, **kw: object) -> logic.Problem | None:
    args: dict[str, object] = {
        "now": NOW,
        "verification_deadline": EARLIER,
        "reason": None,
        "runs": DONE,
        "objection_closes_at": EARLIER,
        "open_objections": 0,
    } | kw
    return logic.transition_problem(current=current, to=to, **args)  # type: ignore[arg-type]


def test_scoring_before_the_verification_deadline_needs_a_reason():
    assert problem("collecting", "scoring", verification_deadline=LATER).field == "reason"  # type: ignore[union-attr]
    assert problem("collecting", "scoring", verification_deadline=LATER, reason="early") is None
    assert problem("collecting", "scoring") is None


@pytest.mark.parametrize(
    ("runs", "expected"),
    [
        (logic.RunState(latest_succeeded_version=None, active_runs=0), "succeeded"),
        (logic.RunState(latest_succeeded_version=1, active_runs=1), "running"),
        (DONE, None),
    ],
)
def test_review_needs_a_finished_run(runs: logic.RunState, expected: str | None):
    found = problem("scoring", "reviewed", runs=runs)
    assert (found is None) if expected is None else (found is not None and expected in found.message)


def test_publication_needs_the_period_over_every_ruling_and_the_upheld_rescore():
    assert "objection period" in problem("objection", "published", objection_closes_at=LATER).message  # type: ignore[union-attr]
    assert problem("objection", "published", open_objections=2).field == "objections"  # type: ignore[union-attr]
    busy = logic.RunState(latest_succeeded_version=1, active_runs=1)
    assert "running" in problem("objection", "published", runs=busy).message  # type: ignore[union-attr]
    failed_rescore = logic.RunState(latest_succeeded_version=1, active_runs=0, required_version=2)
    assert "did not succeed" in problem("objection", "published", runs=failed_rescore).message  # type: ignore[union-attr]
    rescored = logic.RunState(latest_succeeded_version=3, active_runs=0, required_version=2)
    assert problem("objection", "published", runs=rescored) is None


def test_filing_ruling_and_republishing_windows():
    assert logic.filing_problem(status="objection", closes_at=LATER, now=NOW) is None
    assert "closed" in (logic.filing_problem(status="objection", closes_at=NOW, now=NOW) or "")
    assert "objection period" in (logic.filing_problem(status="reviewed", closes_at=None, now=NOW) or "")
    assert "final" in (logic.ruling_problem(plan_status="objection", objection_status="upheld") or "")
    assert logic.ruling_problem(plan_status="objection", objection_status="open") is None
    assert logic.ruling_problem(plan_status="published", objection_status="open") is not None
    assert logic.republish_problem(status="published", published_version=1, latest_version=2) is None
    assert logic.republish_problem(status="published", published_version=2, latest_version=2) is not None
    assert logic.republish_problem(status="objection", published_version=None, latest_version=2) is not None
    assert logic.objection_closes_at(NOW, dt.timedelta(minutes=10)) == NOW + dt.timedelta(minutes=10)


@given(
    earned=st.decimals(min_value=-100, max_value=1000, places=6, allow_nan=False, allow_infinity=False),
    marks=st.decimals(min_value=0, max_value=1000, places=6, allow_nan=False, allow_infinity=False),
    kind=st.sampled_from(["quantitative", "qualitative", "satisfaction", "bonus", "deduction", "veto"]),
    missing=st.booleans(),
)
def test_attainment_is_a_six_place_share_or_not_stated(earned: Decimal, marks: Decimal, kind: str, missing: bool):
    share = logic.attainment(kind, earned, marks, missing)
    if missing or kind in ("deduction", "veto") or marks <= 0:
        assert share is None
    else:
        assert share is not None and share >= 0 and share.as_tuple().exponent >= -6  # type: ignore[operator]
        assert abs(share - max(earned, Decimal(0)) / marks) <= Decimal("0.0000005")


@given(st.text(max_size=50))
def test_no_downloaded_cell_starts_a_formula(text: str):
    safe = logic.spreadsheet_safe(text)
    assert not safe.startswith(logic.FORMULA_STARTS) and safe.removeprefix("'") in (text, text.removeprefix("'"))


def test_if_none_match_compares_weakly_and_accepts_lists_and_star():
    tag = logic.public_etag(uuid.UUID(int=1), "plan")
    assert tag.startswith('"') and tag == logic.public_etag(uuid.UUID(int=1), "plan")
    assert tag != logic.public_etag(uuid.UUID(int=2), "plan") != logic.public_etag(uuid.UUID(int=1), "csv")
    assert logic.etag_matches(tag, tag) and logic.etag_matches(f'"x", W/{tag}', tag) and logic.etag_matches("*", tag)
    assert not logic.etag_matches(None, tag) and not logic.etag_matches('"x"', tag)


def _object(n: int, composite: int) -> ObjectResult:
    return ObjectResult(
        object_id=uuid.UUID(int=n + 1),
        object_kind="government",
        name=f"County {n}",
        org_unit_id=uuid.UUID(int=1000 + n),
        org_path=f"/gd/c{n}",
        peer_group="county",
        composite=Decimal(composite),
        grade="B",
        rank=1,
        peer_count=1,
    )


@given(st.lists(st.integers(0, 100), min_size=1, max_size=8, unique=True), st.randoms(use_true_random=False))
def test_the_objects_hash_ignores_order_and_sees_every_change(ids: list[int], rng):  # type: ignore[no-untyped-def]
    objects = [_object(n, n) for n in ids]
    shuffled = list(objects)
    rng.shuffle(shuffled)
    assert objects_digest(objects) == objects_digest(shuffled)
    changed = [*objects[:-1], objects[-1].model_copy(update={"composite": objects[-1].composite + 1})]
    assert objects_digest(changed) != objects_digest(objects)
    assert objects_digest(objects[:-1]) != objects_digest(objects)


# --- objects_hash lines written without a model per leaf ------------------------------------------


# Numbers as numeric(24, 6) columns hold them: at most six places, any sign; the "valid" draws stay
# inside the contract (so the lines are compared), the others stray out of it now and then.
def dec(low: int, high: int) -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=low, max_value=high, places=6, allow_nan=False, allow_infinity=False)


def contract_text(low: int, high: int, valid: bool) -> st.SearchStrategy[str]:
    return st.text(min_size=low if valid else 0, max_size=high if valid else high + 2)


@st.composite
def leaf_rows(draw: st.DrawFn, valid: bool = True) -> dict[str, object]:
    measure, score = (dec(-(10**12), 10**12), dec(-(10**6), 10**6)) if valid else (dec(-(10**13), 10**13),) * 2
    marks = draw(dec(1, 10**6) if valid else score)
    earned = draw(dec(-(10**6), int(marks) * 5) if valid else score)
    return {
        "code": draw(contract_text(1, 64, valid)),
        "name": draw(contract_text(1, 300, valid)),
        "kind": draw(st.sampled_from(sorted(logic.LEAF_KINDS) + ([] if valid else ["opinion"]))),
        "direction": draw(st.sampled_from([None, *sorted(logic.DIRECTIONS)] + ([] if valid else ["sideways"]))),
        "subject": draw(st.one_of(st.none(), st.just(""), contract_text(1, 64, valid))),
        "value": draw(st.one_of(st.none(), measure)),
        "target": draw(st.one_of(st.none(), measure)),
        "baseline": draw(st.one_of(st.none(), measure)),
        "marks": marks,
        "earned": earned,
        "missing": draw(st.booleans()),
    }


@st.composite
def object_rows(draw: st.DrawFn, valid: bool = True) -> dict[str, object]:
    score = dec(-(10**6), 10**6) if valid else dec(-(10**7), 10**7)
    weight = dec(0, 1) if valid else dec(-1, 2)
    least = 1 if valid else -1
    return {
        "object_id": uuid.UUID(int=draw(st.integers(0, 2**128 - 1))),
        "object_kind": draw(st.sampled_from(sorted(logic.OBJECT_KINDS) + ([] if valid else ["planet"]))),
        "name": draw(contract_text(1, 300, valid)),
        "org_unit_id": uuid.UUID(int=draw(st.integers(0, 2**128 - 1))),
        "org_path": draw(contract_text(1, 512, valid)),
        "peer_group": draw(contract_text(1, 64, valid)),
        "composite": draw(score),
        "subject_scores": draw(st.lists(st.tuples(contract_text(1, 64, valid), score, weight), max_size=3)),
        "grade": draw(contract_text(1, 64, valid)),
        "rank": draw(st.integers(least, 10**6)),
        "peer_count": draw(st.integers(least, 10**6)),
        "vetoed": draw(st.booleans()),
        "veto_codes": draw(st.lists(contract_text(1, 64, valid), max_size=3)),
        "bonus": draw(score),
        "deduction": draw(score),
    }


def _model_line(obj: dict[str, object], leaves: list[dict[str, object]]) -> bytes:
    """The reference: the contract's own model, validated, and ``object_line``."""
    from contracts.appraisal_results import LeafResult, SubjectScore, object_line

    model = ObjectResult(
        **{k: v for k, v in obj.items() if k != "subject_scores"},  # type: ignore[arg-type]
        subject_scores=[SubjectScore(subject=s, score=score, weight=w) for s, score, w in obj["subject_scores"]],  # type: ignore[attr-defined]
        leaves=[
            LeafResult(
                indicator_code=leaf["code"],
                name=leaf["name"],
                subject=leaf["subject"] or None,
                kind=leaf["kind"],
                direction=leaf["direction"],
                value=leaf["value"],
                target=leaf["target"],
                baseline=leaf["baseline"],
                attainment=logic.attainment(leaf["kind"], leaf["earned"], leaf["marks"], leaf["missing"]),  # type: ignore[arg-type]
                marks=leaf["earned"],
                max_marks=leaf["marks"],
                missing=leaf["missing"],
            )
            for leaf in leaves
        ],
    )
    return object_line(model)


def _fast_line(obj: dict[str, object], leaves: list[dict[str, object]]) -> bytes:
    def text_of(value: object) -> str | None:
        return None if value is None else str(value)

    written = [
        logic.leaf_json(
            logic.leaf_definition(leaf["code"], leaf["name"], leaf["kind"], leaf["direction"]),  # type: ignore[arg-type]
            subject=leaf["subject"],  # type: ignore[arg-type]
            value=text_of(leaf["value"]),
            target=text_of(leaf["target"]),
            baseline=text_of(leaf["baseline"]),
            marks=str(leaf["marks"]),
            earned=str(leaf["earned"]),
            missing=leaf["missing"],  # type: ignore[arg-type]
        )
        for leaf in leaves
        if _bounded(leaf)
    ]
    if len(written) != len(leaves):
        raise logic.OutOfContract("a number outside the contract (checked in SQL by the publication)")
    return logic.object_json(**obj, leaves=written).encode()  # type: ignore[arg-type]


def _bounded(leaf: dict[str, object]) -> bool:
    """What the publication's leaf query checks in SQL before the line is written."""
    measures = (leaf["value"], leaf["target"], leaf["baseline"])
    scores = (leaf["marks"], leaf["earned"])
    return all(v is None or abs(v) <= 10**12 for v in measures) and all(abs(v) <= 10**6 for v in scores)  # type: ignore[arg-type]


@given(obj=object_rows(), leaves=st.lists(leaf_rows(), max_size=4))
def test_a_line_written_from_plain_values_is_byte_for_byte_the_contracts_line(obj, leaves):
    assert _fast_line(obj, leaves) == _model_line(obj, leaves)


@given(obj=object_rows(valid=False), leaves=st.lists(leaf_rows(valid=False), max_size=4))
def test_a_line_written_from_plain_values_is_refused_exactly_where_the_contract_refuses(obj, leaves):
    try:
        expected: bytes | None = _model_line(obj, leaves)
    except ValueError:  # pydantic's ValidationError is a ValueError: the contract refuses the object
        expected = None
    try:
        written: bytes | None = _fast_line(obj, leaves)
    except logic.OutOfContract:
        written = None
    assert written == expected
