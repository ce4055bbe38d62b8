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
