"""Pure rules of experts, roll-ups and monitoring, with properties where invariants exist."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from services.appraisal_svc.expert import logic as expert
from services.appraisal_svc.rollup import logic

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
composites = st.decimals(min_value=0, max_value=1000, places=6, allow_nan=False, allow_infinity=False)
weights = st.decimals(min_value=Decimal("0.000001"), max_value=1000, places=6, allow_nan=False, allow_infinity=False)
LABELS = ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]


def test_an_expert_may_not_rate_their_own_unit_or_one_above_it() -> None:
    assert expert.conflicted("/gd/sz/ft", "/gd/sz/ft")
    assert expert.conflicted("/gd/sz/ft/edu", "/gd/sz/ft")
    assert expert.conflicted("/gd/sz/ft", "/")
    assert not expert.conflicted("/gd", "/gd/sz/ft")  # the province's expert rates a county
    assert not expert.conflicted("/gd/sz/ft2", "/gd/sz/ft")  # a sibling whose name starts alike
    assert not expert.conflicted("/gd/sz/ns", "/gd/sz/ft")


def test_ratings_need_a_stated_open_window_and_an_open_plan() -> None:
    later = NOW + dt.timedelta(days=1)
    assert expert.rating_refusal("collecting", later, NOW) is None
    assert "no rating window" in (expert.rating_refusal("collecting", None, NOW) or "")
    assert "closed" in (expert.rating_refusal("collecting", NOW, NOW) or "")
    assert "draft" in (expert.rating_refusal("draft", later, NOW) or "")
    assert expert.sealed(later, NOW) and expert.sealed(None, NOW) and not expert.sealed(NOW, NOW)


def test_the_grade_scale_comes_from_the_leaf() -> None:
    assert expert.grade_scale({"method": "grade", "scale": "ABCD"}) == ("A", "B", "C", "D")
    assert expert.grade_scale({"method": "grade", "scale": "1-5"}) == ("5", "4", "3", "2", "1")  # best first
    assert expert.grade_scale({"method": "linear", "floor": 1}) == ()
    assert expert.grade_scale(None) == ()


@given(st.sampled_from("ABCD"), st.sampled_from("ABCD"))
def test_a_commitment_hides_the_grade_behind_its_salt(grade: str, other: str) -> None:
    one = expert.commitment("a" * 32, "id", grade, None)
    assert one != expert.commitment("b" * 32, "id", grade, None)  # the same grade under another salt
    assert (one == expert.commitment("a" * 32, "id", other, None)) == (grade == other)


@given(st.dictionaries(st.sampled_from(LABELS), composites, min_size=1), st.integers(min_value=0, max_value=6))
def test_a_mean_rollup_lies_between_the_present_composites(found: dict[str, Decimal], places: int) -> None:
    rolled = logic.rolled_composite(found, method="mean", weights=None, places=places)
    assert rolled is not None
    low, high = min(found.values()), max(found.values())
    assert logic.round_half_up(low, places) <= rolled <= logic.round_half_up(high, places)


@given(
    st.dictionaries(st.sampled_from(LABELS), st.one_of(st.none(), composites), min_size=1),
    st.dictionaries(st.sampled_from(LABELS), weights, min_size=1),
)
def test_a_weighted_rollup_renormalizes_over_the_present_sub_cycles(
    found: dict[str, Decimal | None], rule: dict[str, Decimal]
) -> None:
    rolled = logic.rolled_composite(found, method="weighted", weights=rule, places=2)
    counted = {k: v for k, v in found.items() if v is not None and k in rule}
    if not counted:
        assert rolled is None
        return
    assert rolled is not None
    assert logic.round_half_up(min(counted.values()), 2) <= rolled <= logic.round_half_up(max(counted.values()), 2)
    # Scaling every weight changes nothing.
    doubled = {k: v * 2 for k, v in rule.items()}
    assert logic.rolled_composite(found, method="weighted", weights=doubled, places=2) == rolled


@given(composites)
def test_equal_quarters_roll_up_to_themselves(value: Decimal) -> None:
    found = dict.fromkeys(LABELS, value)
    assert logic.rolled_composite(found, method="mean", weights=None, places=6) == value


@given(st.dates(min_value=dt.date(2025, 1, 1), max_value=dt.date(2027, 12, 31)), st.integers(0, 400))
def test_the_elapsed_share_grows_with_time_from_0_to_1(today: dt.date, step: int) -> None:
    start, end = dt.date(2026, 1, 1), dt.date(2026, 12, 31)
    share = logic.elapsed_share(start, end, today)
    assert 0 <= share <= 1
    assert logic.elapsed_share(start, end, today + dt.timedelta(days=step)) >= share
    assert logic.elapsed_share(start, end, start) == 0 and logic.elapsed_share(start, end, end + dt.timedelta(1)) == 1


@given(
    st.decimals(min_value=-1000, max_value=1000, places=3, allow_nan=False, allow_infinity=False),
    st.decimals(min_value=-1000, max_value=1000, places=3, allow_nan=False, allow_infinity=False),
)
def test_attainment_stays_within_0_and_the_cap_and_rises_with_the_value(value: Decimal, more: Decimal) -> None:
    cases = [
        ("target_ratio", "higher_better", {"cap": "1.2"}, Decimal(500), None),
        ("target_ratio", "lower_better", {"zero_point": 800}, Decimal(100), None),
        ("linear", "higher_better", {"floor": -50}, Decimal(400), None),
        ("linear", "lower_better", {"floor_from": "baseline"}, Decimal(10), Decimal(900)),
    ]
    for method, direction, scoring, target, baseline in cases:
        share = logic.attainment(
            method=method, direction=direction, scoring=scoring, value=value, target=target, baseline=baseline
        )
        bigger = logic.attainment(
            method=method,
            direction=direction,
            scoring=scoring,
            value=value + abs(more),
            target=target,
            baseline=baseline,
        )
        cap = Decimal(str(scoring.get("cap", 1)))
        assert share is not None and bigger is not None and 0 <= share <= cap
        better = bigger >= share if direction == "higher_better" else bigger <= share
        assert better, (method, direction, value, more)


def test_unjudgeable_leaves_are_left_out_never_raise() -> None:
    assert (
        logic.attainment(
            method="target_ratio",
            direction="higher_better",
            scoring={},
            value=Decimal(1),
            target=Decimal(0),
            baseline=None,
        )
        is None
    )
    assert (
        logic.attainment(
            method="target_ratio",
            direction="lower_better",
            scoring={},
            value=Decimal(1),
            target=Decimal(5),
            baseline=None,
        )
        is None
    )
    assert (
        logic.attainment(
            method="linear",
            direction="higher_better",
            scoring={"floor": 5},
            value=Decimal(1),
            target=Decimal(5),
            baseline=None,
        )
        is None
    )
    assert (
        logic.attainment(
            method="bands", direction="higher_better", scoring={}, value=Decimal(1), target=Decimal(5), baseline=None
        )
        is None
    )
    assert not logic.lags(None, Decimal(1), Decimal(0))
