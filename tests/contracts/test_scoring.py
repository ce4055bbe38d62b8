"""The published scoring contract (docs/scoring.md): parameters, reference functions and checks.

One test per defect of issue 9 ("The scoring contract has defects"), named after it, then
hypothesis properties of every share function.
"""

import ast
import hashlib
from collections.abc import Callable
from decimal import ROUND_DOWN, ROUND_FLOOR, Context, Decimal, localcontext
from fractions import Fraction
from pathlib import Path
from typing import Any, get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts import scoring
from contracts.scoring import (
    GRADE_SCALES,
    SCORE_CONTEXT,
    SCORING_METHODS,
    BandsParams,
    BonusParams,
    DeductionParams,
    GradeParams,
    LinearParams,
    RankParams,
    SatisfactionParams,
    ScoringRuleAdapter,
    TargetRatioParams,
    VetoParams,
    bonus_earned,
    competition_ranks,
    deduction_earned,
    marks_earned,
    round_half_up,
    rule_problems,
    share_bands,
    share_grade,
    share_linear,
    share_rank,
    share_satisfaction,
    share_target_ratio,
    target_problem,
    veto_codes_hit,
)

D = Decimal
ONE = D(1)
HUNDRED = D(100)
GRADES = GradeParams(scale="ABCD", shares={"A": D(1), "B": D("0.8"), "C": D("0.6"), "D": D("0.3")}, trim_share=D(0))
LOWER_RATIO = TargetRatioParams(zero_point=D(100))


def bands(*pairs: tuple[int | str, int | str]) -> BandsParams:
    return BandsParams.model_validate({"bands": [{"threshold": t, "share": s} for t, s in pairs]})


# ---------------------------------------------------------------------------- the module itself


def test_contract_imports_nothing_but_pydantic_and_the_standard_library() -> None:
    tree = ast.parse(Path(scoring.__file__).read_text())
    imported = {
        name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in ([a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""])
    }
    assert imported <= {"__future__", "collections", "decimal", "hashlib", "itertools", "math", "typing", "pydantic"}


def test_methods_match_the_union_tags() -> None:
    union = get_args(get_args(scoring.ScoringRule)[0])
    assert {model.model_fields["method"].default for model in union} == SCORING_METHODS


def test_grade_scales_list_the_best_grade_first() -> None:
    assert GRADE_SCALES == {"ABCD": ("A", "B", "C", "D"), "1-5": ("5", "4", "3", "2", "1")}


@pytest.mark.parametrize(
    "payload",
    [
        {"method": "target_ratio"},
        {"method": "target_ratio", "zero_point": "30.5", "cap": "1.2"},
        {"method": "linear", "floor": "0"},
        {"method": "linear", "floor_from": "baseline"},
        {"method": "bands", "bands": [{"threshold": 1, "share": "0.5"}]},
        {"method": "rank"},
        {"method": "grade", "scale": "1-5", "shares": {str(g): g / 5 for g in range(1, 6)}, "min_raters": 3},
        {"method": "deduction", "per_item": 1, "cap": 5},
        {"method": "bonus", "per_item": "0.5", "cap": 2},
        {"method": "satisfaction"},
        {"method": "veto", "events": ["major_accident", "data.fraud"], "cap_grade": "C"},
    ],
)
def test_adapter_parses_every_method(payload: dict[str, Any]) -> None:
    rule = ScoringRuleAdapter.validate_python(payload)
    assert rule.method == payload["method"]
    assert ScoringRuleAdapter.validate_json(ScoringRuleAdapter.dump_json(rule)) == rule


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"method": "target_ratio", "cap": 0}, "greater than 0"),
        ({"method": "target_ratio", "cap": "3.01"}, "less than or equal to 3"),
        ({"method": "target_ratio", "extra": 1}, "Extra inputs are not permitted"),
        ({"method": "target_ratio", "zero_point": "1e13"}, "less than or equal to"),
        ({"method": "linear"}, "floor is required"),
        ({"method": "linear", "floor": 1, "floor_from": "baseline"}, "floor must be left out"),
        ({"method": "linear", "floor": 1, "floor_from": "target"}, "'value' or 'baseline'"),
        ({"method": "bands", "bands": []}, "at least 1 item"),
        ({"method": "bands", "bands": [{"threshold": i, "share": 1} for i in range(51)]}, "at most 50"),
        (
            {"method": "bands", "bands": [{"threshold": 2, "share": 1}, {"threshold": 2, "share": 1}]},
            "strictly increasing",
        ),
        ({"method": "bands", "bands": [{"threshold": 1, "share": "1.1"}]}, "less than or equal to 1"),
        ({"method": "rank", "floor_share": -1}, "greater than or equal to 0"),
        ({"method": "grade", "scale": "ABCD", "shares": {"A": 1, "B": 1, "C": 1}}, "exactly the grades"),
        ({"method": "grade", "scale": "ABC", "shares": {}}, "'ABCD' or '1-5'"),
        ({"method": "grade", "scale": "ABCD", "shares": {"A": 1, "B": 1, "C": 1, "D": 1}}, "must earn more"),
        ({"method": "grade", "scale": "1-5", "shares": {str(g): 1 for g in range(1, 6)}}, "must earn more"),
        ({"method": "grade", "scale": "ABCD", "shares": dict.fromkeys("ABCD", 1), "trim_share": "0.5"}, "less than"),
        ({"method": "grade", "scale": "ABCD", "shares": dict.fromkeys("ABCD", 1), "min_raters": 0}, "greater than"),
        ({"method": "grade", "scale": "ABCD", "shares": dict.fromkeys("ABCD", 1), "trim_min_raters": 5}, "Extra"),
        ({"method": "deduction", "per_item": 0, "cap": 1}, "greater than 0"),
        ({"method": "bonus", "per_item": 1, "cap": 0}, "greater than 0"),
        ({"method": "satisfaction", "zero_index": 90, "full_index": 80}, "must be below"),
        ({"method": "satisfaction", "full_index": 101}, "less than or equal to 100"),
        ({"method": "veto", "events": [], "cap_grade": "C"}, "at least 1 item"),
        ({"method": "veto", "events": ["a", "a"], "cap_grade": "C"}, "unique"),
        ({"method": "nonsense"}, "does not match any of the expected tags"),
        ({"method": "target_ratio", "cap": "NaN"}, "finite number"),
        ({"method": "linear", "floor": "Infinity"}, "finite number"),
    ],
)
def test_bad_parameters_are_rejected_with_a_clear_message(payload: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ScoringRuleAdapter.validate_python(payload)


def test_params_are_frozen() -> None:
    with pytest.raises(ValidationError):
        TargetRatioParams().cap = D(2)  # type: ignore[misc]


# ---------------------------------------------------------------------------- one test per defect


def test_results_are_rounded_half_up_and_independent_of_the_callers_context() -> None:
    # Defect: 3 x (1/3) gave 0.9999999999999999999999999999 and precision 8 vs 28 disagreed.
    third = share_target_ratio(TargetRatioParams(), actual=D(1), target=D(3), direction="higher_better")
    assert third is not None
    assert marks_earned(D(3), third, 2) == D("1.00")
    answers = set()
    for context in (Context(prec=8), Context(prec=28, rounding=ROUND_DOWN), Context(prec=3, rounding=ROUND_FLOOR)):
        with localcontext(context):
            share = share_target_ratio(TargetRatioParams(), actual=D(2), target=D(3), direction="higher_better")
            assert share is not None
            answers.add((share, marks_earned(D(7), share, 4)))
    assert answers == {(SCORE_CONTEXT.divide(D(2), D(3)), D("4.6667"))}


def test_exact_ties_round_like_the_true_rational() -> None:
    # 3.75 x 2/15 is exactly 0.5; the 60-digit share times 3.75 is 0.4999..9. docs/scoring.md, "Exact ties".
    share = share_target_ratio(TargetRatioParams(), actual=D(2), target=D(15), direction="higher_better")
    assert share is not None
    with localcontext(SCORE_CONTEXT):
        computed_product = D("3.75") * share
    assert round_half_up(computed_product, 0) == 0  # what rounding the computed product alone gives
    assert marks_earned(D("3.75"), share, 0) == 1
    assert marks_earned(D("18.75"), share, 0) == 3
    assert marks_earned(D("1.875"), share, 1) == D("0.3")


def test_linear_follows_the_direction() -> None:
    # Defect: floor 75, target 74 gave a worse value 73 full marks and 80 nothing.
    rule = LinearParams(floor=D(75))
    assert target_problem(rule, target=D(74), direction="higher_better") is not None
    assert share_linear(rule, actual=D(73), target=D(74), baseline=None, direction="higher_better") is None
    # Lower is better with the same numbers: 80 is worse than the floor, 73 beats the target.
    assert target_problem(rule, target=D(74), direction="lower_better") is None
    assert share_linear(rule, actual=D(80), target=D(74), baseline=None, direction="lower_better") == 0
    assert share_linear(rule, actual=D("74.5"), target=D(74), baseline=None, direction="lower_better") == D("0.5")
    assert share_linear(rule, actual=D(73), target=D(74), baseline=None, direction="lower_better") == 1
    # The per-object baseline as the floor.
    from_baseline = LinearParams(floor_from="baseline", cap=D("1.5"))
    assert share_linear(from_baseline, actual=D(15), target=D(20), baseline=D(10), direction="higher_better") == D(
        "0.5"
    )
    assert share_linear(from_baseline, actual=D(30), target=D(20), baseline=D(10), direction="higher_better") == D(
        "1.5"
    )
    assert share_linear(from_baseline, actual=D(30), target=D(20), baseline=None, direction="higher_better") is None
    assert target_problem(from_baseline, target=D(20), baseline=D(20), direction="higher_better") is not None
    assert target_problem(from_baseline, target=D(20), baseline=None, direction="higher_better") is not None
    assert target_problem(from_baseline, target=D(5), baseline=D(10), direction="lower_better") is None


def test_lower_better_target_ratio_reaches_zero_at_the_zero_point() -> None:
    # Defect: 20x the target still earned 10 %.
    params = TargetRatioParams(zero_point=D(100), cap=D("1.2"))
    share = share_target_ratio
    assert share(params, actual=D(200), target=D(10), direction="lower_better") == 0
    assert share(params, actual=D(100), target=D(10), direction="lower_better") == 0
    assert share(params, actual=D(55), target=D(10), direction="lower_better") == D("0.5")
    assert share(params, actual=D(10), target=D(10), direction="lower_better") == 1
    assert share(params, actual=D(0), target=D(10), direction="lower_better") == SCORE_CONTEXT.divide(D(10), D(9))
    assert share(params, actual=D(-50), target=D(10), direction="lower_better") == D("1.2")
    assert share(TargetRatioParams(), actual=D(5), target=D(10), direction="lower_better") is None
    assert rule_problems(TargetRatioParams(), direction="lower_better", total_points=HUNDRED)
    assert rule_problems(params, direction="lower_better", total_points=HUNDRED) == []
    assert target_problem(params, target=D(100), direction="lower_better") is not None
    assert target_problem(TargetRatioParams(), target=D(5), direction="lower_better") is not None


def test_impossible_targets_are_refused_when_set_and_missing_when_stored() -> None:
    # Defect: a target of 0 (target_ratio) or equal to the floor (linear) raised inside scoring.
    assert "positive" in (target_problem(TargetRatioParams(), target=D(0)) or "")
    assert "positive" in (target_problem(TargetRatioParams(), target=D(-3)) or "")
    assert "differ" in (target_problem(LinearParams(floor=D(5)), target=D(5)) or "")
    assert share_target_ratio(TargetRatioParams(), actual=D(3), target=D(0), direction="higher_better") is None
    assert (
        share_linear(LinearParams(floor=D(5)), actual=D(3), target=D(5), baseline=None, direction="higher_better")
        is None
    )
    assert target_problem(TargetRatioParams(), target=D(5)) is None


def test_bands_shares_must_rise_in_the_direction() -> None:
    # Defect: bands did not check that shares rise with the direction.
    rising, falling = bands((10, "0.5"), (20, 1)), bands((10, 1), (20, "0.5"))
    assert rule_problems(rising, direction="higher_better", total_points=HUNDRED) == []
    assert rule_problems(falling, direction="higher_better", total_points=HUNDRED)
    assert rule_problems(falling, direction="lower_better", total_points=HUNDRED) == []
    assert rule_problems(rising, direction="lower_better", total_points=HUNDRED)
    # Lower is better: the first band at or above the value.
    assert share_bands(falling, actual=D(5), direction="lower_better") == 1
    assert share_bands(falling, actual=D(15), direction="lower_better") == D("0.5")
    assert share_bands(falling, actual=D(25), direction="lower_better") == 0


def test_target_band_peaks_at_one_and_falls() -> None:
    # Defect: target_band scored like higher-is-better (10^6 got full marks).
    peaked = bands((90, "0.5"), (95, 1), (105, "0.5"), (120, 0))
    assert rule_problems(peaked, direction="target_band", total_points=HUNDRED) == []
    assert share_bands(peaked, actual=D(100), direction="target_band") == 1
    assert share_bands(peaked, actual=D(110), direction="target_band") == D("0.5")
    assert share_bands(peaked, actual=D(10**6), direction="target_band") == 0
    for bad in (
        bands((90, "0.5"), (100, 1)),  # never falls: 10^6 would earn everything
        bands((90, "0.5"), (100, "0.9"), (110, 0)),  # peak below 1
        bands((90, 1), (100, "0.5"), (110, 1), (120, 0)),  # two peaks
    ):
        assert rule_problems(bad, direction="target_band", total_points=HUNDRED)
    for ordering in (TargetRatioParams(), LinearParams(floor=D(0)), RankParams()):
        assert rule_problems(ordering, direction="target_band", total_points=HUNDRED)
    assert share_target_ratio(TargetRatioParams(), actual=D(10**6), target=D(1), direction="target_band") is None


def test_grade_shares_may_not_favour_d_over_a() -> None:
    with pytest.raises(ValidationError, match="must not earn more than the better grade 'A'"):
        GradeParams(scale="ABCD", shares={"A": D("0.2"), "B": D("0.4"), "C": D("0.6"), "D": D(1)})
    with pytest.raises(ValidationError, match="must not earn more than the better grade '5'"):
        GradeParams(scale="1-5", shares={"1": D(1), "2": D("0.8"), "3": D("0.6"), "4": D("0.4"), "5": D("0.2")})


def test_rank_uses_competition_ranking_and_refuses_fractional_positions() -> None:
    # Defect: ties were left to the caller (dense ranking gave last-of-five 7.0 of 6) and 1.5 passed.
    values = [D(90), D(80), D(80), D(70), D(60)]
    assert competition_ranks(values, "higher_better") == [1, 2, 2, 4, 5]
    assert competition_ranks(values, "lower_better") == [5, 3, 3, 2, 1]
    assert competition_ranks([D(3), None, D(3), D("NaN")], "higher_better") == [1, None, 1, None]
    params = RankParams(floor_share=D("0.6"))
    earned = [marks_earned(D(10), share_rank(params, position=p, peer_count=5) or D(0), 2) for p in (1, 2, 2, 4, 5)]
    assert earned == [D("10.00"), D("9.00"), D("9.00"), D("7.00"), D("6.00")]
    assert share_rank(params, position=1, peer_count=1) == 1
    assert share_rank(params, position=1.5, peer_count=5) is None  # type: ignore[arg-type]
    assert share_rank(params, position=6, peer_count=5) is None
    assert share_rank(params, position=0, peer_count=5) is None


def test_grade_trims_a_proportion_per_subject() -> None:
    # Defect: all raters pooled and one trimmed at each end (30 raters, 10 hostile: 3.357).
    params = GradeParams(scale="ABCD", shares={"A": D(1), "B": D("0.8"), "C": D("0.6"), "D": D(0)}, trim_share=D("0.2"))
    ratings = ["A"] * 20 + ["D"] * 10
    # floor(30 x 0.2) = 6 dropped at each end: 14 A and 4 D remain.
    assert share_grade(params, ratings) == SCORE_CONTEXT.divide(D(14), D(18))
    assert share_grade(params, ["A", "D"]) == D("0.5")  # floor(2 x 0.2) = 0: nothing dropped
    assert share_grade(params, ["A", "B", "B", "B", "D"]) == D("0.8")  # floor(5 x 0.2) = 1: A and D dropped
    strict = params.model_copy(update={"min_raters": 3})
    assert share_grade(strict, ["A", "A"]) is None
    assert share_grade(strict, ["A", "A", "B"]) is not None
    assert share_grade(params, []) is None
    assert share_grade(params, ["E", "A"]) == 1  # a rating off the scale does not count


def test_bonus_and_deduction_caps_are_bounded_by_the_total() -> None:
    # Defect: a 100-point framework accepted a deduction cap of 150 and a bonus cap of 1000.
    assert rule_problems(DeductionParams(per_item=D(10), cap=D(150)), direction="higher_better", total_points=HUNDRED)
    assert rule_problems(BonusParams(per_item=D(10), cap=D(1000)), direction="higher_better", total_points=HUNDRED)
    assert rule_problems(BonusParams(per_item=D(1), cap=D(100)), direction="higher_better", total_points=HUNDRED) == []
    # Earned amounts are never negative, whole items only, and within the cap.
    deduction = DeductionParams(per_item=D(2), cap=D(5))
    assert deduction_earned(deduction, count=D("2.9")) == 4
    assert deduction_earned(deduction, count=D(9)) == 5
    assert deduction_earned(deduction, count=D(-3)) == 0
    assert bonus_earned(BonusParams(per_item=D("0.5"), cap=D(2)), count=3) == D("1.5")
    assert bonus_earned(BonusParams(per_item=D("0.5"), cap=D(2)), count=None) == 0
    assert bonus_earned(BonusParams(per_item=D("0.5"), cap=D(2)), count=D("Infinity")) == 0


def test_satisfaction_index_above_100_or_suppressed_is_missing() -> None:
    # Defect: an index of 150 earned full marks and a suppressed cell (None) raised.
    params = SatisfactionParams(zero_index=D(60), full_index=D(95))
    assert share_satisfaction(params, index=D(150)) is None
    assert share_satisfaction(params, index=D(-1)) is None
    assert share_satisfaction(params, index=None) is None
    assert share_satisfaction(params, index=D(100)) == 1
    assert share_satisfaction(params, index=D("77.5")) == D("0.5")
    assert share_satisfaction(params, index=D(50)) == 0
    assert target_problem(params, target=D(101)) is not None
    assert target_problem(params, target=D(90)) is None


def test_veto_events_are_stable_codes() -> None:
    # Defect: events matched by exact free text (a trailing space missed).
    for bad in ("data fraud", "fraud ", "Fraud", "1fraud", "", "x" * 65):
        with pytest.raises(ValidationError, match="should match pattern"):
            VetoParams(events=[bad], cap_grade="C")
    with pytest.raises(ValidationError, match="should match pattern"):
        VetoParams(events=["fraud"], cap_grade="C\x00")  # the cap is a grade name
    veto = VetoParams(events=["major_accident", "data.fraud"], cap_grade="C")
    assert veto_codes_hit(veto, ["other", "data.fraud"])
    assert not veto_codes_hit(veto, ["other"])
    assert not veto_codes_hit(veto, [])


@pytest.mark.parametrize("bad", [None, D("NaN"), D("Infinity"), D("-Infinity"), D("sNaN")])
def test_missing_values_never_raise(bad: Decimal | None) -> None:
    # Defect: None raised, NaN raised and Infinity earned the cap.
    assert share_target_ratio(TargetRatioParams(), actual=bad, target=D(5), direction="higher_better") is None
    assert share_target_ratio(TargetRatioParams(), actual=D(5), target=bad, direction="higher_better") is None
    assert share_target_ratio(LOWER_RATIO, actual=bad, target=D(5), direction="lower_better") is None
    assert (
        share_linear(LinearParams(floor=D(0)), actual=bad, target=D(5), baseline=None, direction="higher_better")
        is None
    )
    assert share_bands(bands((1, 1)), actual=bad, direction="higher_better") is None
    assert share_satisfaction(SatisfactionParams(), index=bad) is None
    assert bonus_earned(BonusParams(per_item=D(1), cap=D(5)), count=bad) == 0
    assert competition_ranks([bad, D(1)], "higher_better") == [None, 1]
    if bad is not None:
        assert target_problem(TargetRatioParams(), target=bad) is not None


# ---------------------------------------------------------------------------- properties

numbers = st.decimals(min_value=-(10**6), max_value=10**6, places=6, allow_nan=False, allow_infinity=False)
positive = st.decimals(min_value=D("0.000001"), max_value=10**6, places=6)
marks_st = st.decimals(min_value=0, max_value=1000, places=4)
caps = st.decimals(min_value=D("0.000001"), max_value=3, places=6)
shares = st.decimals(min_value=0, max_value=1, places=6)
amounts = st.decimals(min_value=D("0.000001"), max_value=1000, places=6)
places_st = st.integers(0, 6)
higher_lower = st.sampled_from(["higher_better", "lower_better"])


@st.composite
def scored(draw: st.DrawFn) -> tuple[str, Callable[[Decimal], Decimal | None], Decimal]:
    """A random rule as a function of the actual value, its direction and its cap."""
    direction = draw(higher_lower)
    kind = draw(st.sampled_from(["target_ratio", "linear", "bands", "satisfaction"]))
    cap = draw(caps)
    if kind == "target_ratio":
        target = draw(positive)
        zero_point = target + draw(positive)
        params = TargetRatioParams(cap=cap, zero_point=zero_point if direction == "lower_better" else None)
        return direction, lambda a: share_target_ratio(params, actual=a, target=target, direction=direction), cap
    if kind == "linear":
        floor, gap = draw(numbers), draw(positive)
        target = floor + gap if direction == "higher_better" else floor - gap
        use_baseline = draw(st.booleans())
        linear = LinearParams(
            floor=None if use_baseline else floor, floor_from="baseline" if use_baseline else "value", cap=cap
        )
        assert target_problem(linear, target=target, baseline=floor, direction=direction) is None
        return (
            direction,
            lambda a: share_linear(linear, actual=a, target=target, baseline=floor, direction=direction),
            cap,
        )
    if kind == "bands":
        thresholds = sorted(draw(st.lists(numbers, min_size=1, max_size=8, unique=True)))
        band_shares = sorted(draw(st.lists(shares, min_size=len(thresholds), max_size=len(thresholds))))
        if direction == "lower_better":
            band_shares.reverse()
        rule = bands(*zip(thresholds, band_shares, strict=True))  # type: ignore[arg-type]
        assert rule_problems(rule, direction=direction, total_points=HUNDRED) == []
        return direction, lambda a: share_bands(rule, actual=a, direction=direction), ONE
    zero = draw(st.decimals(min_value=0, max_value=99, places=6))
    satisfaction = SatisfactionParams(
        zero_index=zero, full_index=draw(st.decimals(min_value=zero + D("0.000001"), max_value=100, places=6))
    )
    return "higher_better", lambda a: share_satisfaction(satisfaction, index=a), ONE


@given(scored(), numbers, numbers, marks_st, places_st)
def test_shares_lie_in_0_cap_marks_in_0_marks_x_cap_and_are_monotone_in_the_direction(
    rule: tuple[str, Callable[[Decimal], Decimal | None], Decimal], a: Decimal, b: Decimal, marks: Decimal, places: int
) -> None:
    direction, share_of, cap = rule
    low, high = sorted((a, b))
    share_low, share_high = share_of(low), share_of(high)
    for share in (share_low, share_high):
        if share is None:  # only satisfaction outside [0, 100]
            continue
        assert 0 <= share <= cap
        # Rounding may lift marks x cap to its next step, never further.
        assert 0 <= marks_earned(marks, share, places) <= round_half_up(marks * cap, places)
    if share_low is not None and share_high is not None:
        if direction == "higher_better":
            assert share_low <= share_high
        else:
            assert share_low >= share_high


@given(shares, marks_st, places_st, st.data())
def test_rank_shares_lie_between_floor_share_and_one_and_fall_with_position(
    floor: Decimal, marks: Decimal, places: int, data: st.DataObject
) -> None:
    peers = data.draw(st.integers(1, 500))
    first, second = sorted(data.draw(st.lists(st.integers(1, peers), min_size=2, max_size=2)))
    params = RankParams(floor_share=floor)
    share_first = share_rank(params, position=first, peer_count=peers)
    share_second = share_rank(params, position=second, peer_count=peers)
    assert share_first is not None and share_second is not None
    assert floor <= share_second <= share_first <= 1
    assert 0 <= marks_earned(marks, share_first, places) <= round_half_up(marks, places)


@given(st.lists(st.sampled_from("ABCD"), max_size=60), st.decimals(min_value=0, max_value=D("0.49"), places=2))
def test_trimmed_mean_lies_between_the_lowest_and_highest_rating(ratings: list[str], trim: Decimal) -> None:
    params = GRADES.model_copy(update={"trim_share": trim})
    share = share_grade(params, ratings)
    if not ratings:
        assert share is None
        return
    given_shares = [GRADES.shares[r] for r in ratings]
    assert share is not None
    assert min(given_shares) <= share <= max(given_shares)


@given(st.lists(st.none() | st.integers(-5, 5).map(D), max_size=30), higher_lower)
def test_competition_rank_is_one_plus_the_number_of_better_values(values: list[Decimal | None], direction: str) -> None:
    ranks = competition_ranks(values, direction)
    present = [v for v in values if v is not None]
    for value, rank in zip(values, ranks, strict=True):
        if value is None:
            assert rank is None
        else:
            better = [v for v in present if (v > value if direction == "higher_better" else v < value)]
            assert rank == 1 + len(better)


@given(amounts, amounts, st.integers(-10, 10_000) | st.decimals(min_value=-10, max_value=10_000, places=3))
def test_bonus_and_deduction_never_exceed_their_cap_nor_fall_below_zero(
    per_item: Decimal, cap: Decimal, count: int | Decimal
) -> None:
    bonus = bonus_earned(BonusParams(per_item=per_item, cap=cap), count=count)
    deduction = deduction_earned(DeductionParams(per_item=per_item, cap=cap), count=count)
    assert 0 <= bonus <= cap
    assert bonus == deduction


def _exact_half_up(value: Fraction, places: int) -> Fraction:
    scaled = abs(value) * 10**places
    whole = scaled.numerator // scaled.denominator
    if scaled - whole >= Fraction(1, 2):
        whole += 1
    return Fraction(whole if value >= 0 else -whole, 10**places)


@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**12), max_value=10**12, places=12), places_st)
def test_round_half_up_is_exact_against_fractions(x: Decimal, places: int) -> None:
    with localcontext(Context(prec=4, rounding=ROUND_FLOOR)):  # the caller's context must not matter
        rounded = round_half_up(x, places)
    assert Fraction(rounded) == _exact_half_up(Fraction(x), places)
    assert rounded.as_tuple().exponent == -places


@given(marks_st, numbers, positive, caps, places_st)
def test_marks_earned_equal_the_exactly_rounded_true_rational(
    marks: Decimal, actual: Decimal, target: Decimal, cap: Decimal, places: int
) -> None:
    share = share_target_ratio(TargetRatioParams(cap=cap), actual=actual, target=target, direction="higher_better")
    assert share is not None
    true_share = min(max(Fraction(actual) / Fraction(target), Fraction(0)), Fraction(cap))
    assert Fraction(marks_earned(marks, share, places)) == _exact_half_up(Fraction(marks) * true_share, places)


@given(st.integers(0, 99), st.integers(1, 100), marks_st, places_st)
def test_marks_earned_at_exact_ties_equal_the_true_rational(k: int, n: int, marks: Decimal, places: int) -> None:
    # actual / target = k / n with marks chosen so that the product is often exactly a tie.
    share = share_target_ratio(TargetRatioParams(), actual=D(k), target=D(n), direction="higher_better")
    assert share is not None
    expected = _exact_half_up(Fraction(marks) * min(Fraction(k, n), Fraction(1)), places)
    assert Fraction(marks_earned(marks, share, places)) == expected


@given(scored(), numbers, marks_st, places_st)
def test_results_do_not_depend_on_the_callers_decimal_context(
    rule: tuple[str, Callable[[Decimal], Decimal | None], Decimal], actual: Decimal, marks: Decimal, places: int
) -> None:
    _, share_of, _ = rule
    results = []
    for context in (Context(prec=8), Context(prec=28), Context(prec=5, rounding=ROUND_DOWN)):
        with localcontext(context):
            share = share_of(actual)
            results.append((share, None if share is None else marks_earned(marks, share, places)))
    assert results[0] == results[1] == results[2]


def test_a_hashed_line_spells_numbers_plainly_as_the_engine_does() -> None:
    # The engine writes trim_scale(x)::text; anyone recomputing the results hash must match it.
    assert (
        scoring.hash_line(
            Decimal("100.000000"),
            Decimal("0E-6"),
            Decimal("-3.250"),
            Decimal("0.5000000000"),
            True,
            False,
            None,
            7,
            "B",
        )
        == "100|0|-3.25|0.5|t|f||7|B"
    )
    digest = scoring.object_digest("o", ["s1", "s2"], [])
    assert digest == hashlib.sha256(f"o\ns1\ns2\n{hashlib.sha256(b'').hexdigest()}".encode()).hexdigest()
    assert scoring.results_hash([("b", "2"), ("a", "1")]) == hashlib.sha256(b"1\n2").hexdigest()


def test_hash_rules_2_hash_an_objects_leaf_lines_column_by_column_and_rules_1_line_by_line() -> None:
    rows = [
        (
            "A1",
            "public",
            Decimal("80.500000"),
            Decimal("90"),
            None,
            Decimal("0.5000"),
            Decimal("10"),
            Decimal("5.0"),
            False,
        ),
        ("B2", "", None, None, None, None, Decimal("0E-6"), Decimal("0"), True),
    ]
    columns = "A1|B2\npublic|\n80.5|\n90|\n|\n0.5|\n10|0\n5|0\nf|t"
    lines = "A1|public|80.5|90||0.5|10|5|f\nB2||||||0|0|t"
    assert scoring.leaves_part(rows) == hashlib.sha256(columns.encode()).hexdigest()
    assert scoring.leaves_part(rows, rules=1) == hashlib.sha256(lines.encode()).hexdigest()
    assert scoring.HASH_RULES == 2
    # Rules 2 bind each field to its column: swapping two lines' values changes the part.
    swapped = [(*rows[0][:2], None, *rows[0][3:]), (*rows[1][:2], Decimal("80.5"), *rows[1][3:])]
    assert scoring.leaves_part(swapped) != scoring.leaves_part(rows)
    digest = scoring.object_digest("o", ["s"], rows)
    assert digest == hashlib.sha256(f"o\ns\n{scoring.leaves_part(rows)}".encode()).hexdigest()
