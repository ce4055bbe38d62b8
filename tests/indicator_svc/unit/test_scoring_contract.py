"""The published scoring contract: parameter validation and the pure scoring functions."""

import ast
from decimal import Decimal
from pathlib import Path
from typing import Any, get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts import scoring
from contracts.scoring import (
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
    score_bands,
    score_bonus,
    score_deduction,
    score_grade,
    score_linear,
    score_rank,
    score_satisfaction,
    score_target_ratio,
    veto_applies,
)

D = Decimal
GRADES = GradeParams(scale="ABCD", shares={"A": D(1), "B": D("0.8"), "C": D("0.6"), "D": D("0.3")})


def test_contract_imports_nothing_from_the_services() -> None:
    tree = ast.parse(Path(scoring.__file__).read_text())
    imported = {
        name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in ([a.name for a in node.names] if isinstance(node, ast.Import) else [node.module])
    }
    assert not {m for m in imported if m and m.split(".")[0] in ("services", "shared")}


def test_methods_match_the_union_tags() -> None:
    union = get_args(get_args(scoring.ScoringRule)[0])
    tags = {model.model_fields["method"].default for model in union}
    assert tags == SCORING_METHODS


@pytest.mark.parametrize(
    "payload",
    [
        {"method": "target_ratio"},
        {"method": "linear", "floor": "0"},
        {"method": "bands", "bands": [{"threshold": 1, "share": "0.5"}]},
        {"method": "rank"},
        {"method": "grade", "scale": "1-5", "shares": {str(g): g / 5 for g in range(1, 6)}},
        {"method": "deduction", "per_item": 1, "cap": 5},
        {"method": "bonus", "per_item": "0.5", "cap": 2},
        {"method": "satisfaction"},
        {"method": "veto", "events": ["major accident"], "cap_grade": "fail"},
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
        ({"method": "linear"}, "Field required"),
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
        ({"method": "deduction", "per_item": 0, "cap": 1}, "greater than 0"),
        ({"method": "bonus", "per_item": 1, "cap": 0}, "greater than 0"),
        ({"method": "satisfaction", "zero_index": 90, "full_index": 80}, "must be below"),
        ({"method": "satisfaction", "full_index": 101}, "less than or equal to 100"),
        ({"method": "veto", "events": [], "cap_grade": "fail"}, "at least 1 item"),
        ({"method": "veto", "events": ["a", "a"], "cap_grade": "fail"}, "unique"),
        ({"method": "veto", "events": [" "], "cap_grade": "fail"}, "at least 1 character"),
        ({"method": "nonsense"}, "does not match any of the expected tags"),
        ({"method": "target_ratio", "cap": "NaN"}, "finite number"),
    ],
)
def test_bad_parameters_are_rejected_with_a_clear_message(payload: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ScoringRuleAdapter.validate_python(payload)


def test_params_are_frozen() -> None:
    with pytest.raises(ValidationError):
        TargetRatioParams().cap = D(2)  # type: ignore[misc]


def test_target_ratio_examples() -> None:
    params = TargetRatioParams(cap=D("1.2"))
    kw = {"marks": D(10), "target": D(8)}
    assert score_target_ratio(params, actual=D(6), direction="higher_better", **kw) == D("7.5")
    assert score_target_ratio(params, actual=D(20), direction="higher_better", **kw) == D(12)
    assert score_target_ratio(params, actual=D(10), direction="lower_better", **kw) == D(8)
    assert score_target_ratio(params, actual=D(0), direction="lower_better", **kw) == D(12)
    with pytest.raises(ValueError, match="positive target"):
        score_target_ratio(params, marks=D(1), actual=D(1), target=D(0), direction="higher_better")
    with pytest.raises(ValueError, match="target_band"):
        score_target_ratio(params, actual=D(1), direction="target_band", **kw)


def test_linear_examples_in_both_directions() -> None:
    params = LinearParams(floor=D(0))
    assert score_linear(params, marks=D(4), actual=D(3), target=D(6)) == D(2)
    assert score_linear(params, marks=D(4), actual=D(-3), target=D(6)) == D(0)
    assert score_linear(params, marks=D(4), actual=D(9), target=D(6)) == D(4)
    lower = LinearParams(floor=D(15))  # a loss rate: 15 % earns nothing, 5 % everything
    assert score_linear(lower, marks=D(3), actual=D(10), target=D(5)) == D("1.5")
    with pytest.raises(ValueError, match="different from floor"):
        score_linear(params, marks=D(1), actual=D(1), target=D(0))


def test_bands_examples() -> None:
    params = BandsParams.model_validate({"bands": [{"threshold": 80, "share": "0.6"}, {"threshold": 90, "share": 1}]})
    assert score_bands(params, marks=D(5), actual=D(79), direction="higher_better") == 0
    assert score_bands(params, marks=D(5), actual=D(85), direction="higher_better") == 3
    assert score_bands(params, marks=D(5), actual=D(90), direction="higher_better") == 5
    assert score_bands(params, marks=D(5), actual=D(75), direction="lower_better") == 3
    assert score_bands(params, marks=D(5), actual=D(85), direction="lower_better") == 5
    assert score_bands(params, marks=D(5), actual=D(95), direction="lower_better") == 0


def test_rank_examples() -> None:
    params = RankParams(floor_share=D("0.6"))
    assert score_rank(params, marks=D(10), position=1, peer_count=5) == D(10)
    assert score_rank(params, marks=D(10), position=3, peer_count=5) == D(8)
    assert score_rank(params, marks=D(10), position=5, peer_count=5) == D(6)
    assert score_rank(params, marks=D(10), position=1, peer_count=1) == D(10)
    with pytest.raises(ValueError, match="outside"):
        score_rank(params, marks=D(10), position=6, peer_count=5)


def test_grade_uses_trimmed_mean_from_five_raters() -> None:
    assert score_grade(GRADES, marks=D(10), ratings=["A", "D"]) == D("6.5")
    # Five raters: the single A and the single D are dropped, B, B, C remain.
    five = ["A", "B", "B", "C", "D"]
    assert score_grade(GRADES, marks=D(3), ratings=five) == D("2.2")
    with pytest.raises(ValueError, match="not grades"):
        score_grade(GRADES, marks=D(1), ratings=["E"])
    with pytest.raises(ValueError, match="at least one"):
        score_grade(GRADES, marks=D(1), ratings=[])


def test_bonus_deduction_satisfaction_and_veto_examples() -> None:
    assert score_bonus(BonusParams(per_item=D("0.5"), cap=D(2)), count=3) == D("1.5")
    assert score_bonus(BonusParams(per_item=D("0.5"), cap=D(2)), count=9) == D(2)
    assert score_deduction(DeductionParams(per_item=D(1), cap=D(5)), count=2) == D(-2)
    assert score_deduction(DeductionParams(per_item=D(1), cap=D(5)), count=7) == D(-5)
    with pytest.raises(ValueError, match="negative"):
        score_bonus(BonusParams(per_item=D(1), cap=D(1)), count=-1)
    params = SatisfactionParams(zero_index=D(60), full_index=D(95))
    assert score_satisfaction(params, marks=D(3), index=D("88")) == D("2.4")
    assert score_satisfaction(params, marks=D(3), index=D(50)) == D(0)
    assert score_satisfaction(params, marks=D(3), index=D(99)) == D(3)
    veto = VetoParams(events=["major accident", "data fraud"], cap_grade="fail")
    assert veto_applies(veto, {"data fraud", "other"})
    assert not veto_applies(veto, {"other"})


numbers = st.decimals(min_value=-1000, max_value=1000, places=3)
positive = st.decimals(min_value=D("0.001"), max_value=1000, places=3)
marks_st = st.decimals(min_value=0, max_value=100, places=2)
caps = st.decimals(min_value=D("0.01"), max_value=3, places=2)
shares = st.decimals(min_value=0, max_value=1, places=3)


@given(caps, marks_st, numbers, numbers, positive, st.sampled_from(["higher_better", "lower_better"]))
def test_target_ratio_stays_within_marks_times_cap_and_is_monotone(
    cap: Decimal, marks: Decimal, a: Decimal, b: Decimal, target: Decimal, direction: str
) -> None:
    params = TargetRatioParams(cap=cap)
    low, high = sorted((a, b))
    score_low = score_target_ratio(params, marks=marks, actual=low, target=target, direction=direction)  # type: ignore[arg-type]
    score_high = score_target_ratio(params, marks=marks, actual=high, target=target, direction=direction)  # type: ignore[arg-type]
    for score in (score_low, score_high):
        assert 0 <= score <= marks * cap
    if direction == "higher_better":
        assert score_low <= score_high


@given(caps, marks_st, numbers, numbers, numbers, numbers)
def test_linear_stays_within_bounds_and_is_monotone(
    cap: Decimal, marks: Decimal, floor: Decimal, target: Decimal, a: Decimal, b: Decimal
) -> None:
    if floor >= target:
        floor, target = target - 1, floor  # higher_better: floor below target
    params = LinearParams(floor=floor, cap=cap)
    low, high = sorted((a, b))
    score_low = score_linear(params, marks=marks, actual=low, target=target)
    score_high = score_linear(params, marks=marks, actual=high, target=target)
    assert 0 <= score_low <= score_high <= marks * cap


@given(
    st.lists(st.tuples(numbers, shares), min_size=1, max_size=10, unique_by=lambda t: t[0]), marks_st, numbers, numbers
)
def test_bands_within_marks_and_monotone_when_shares_rise(
    raw: list[tuple[Decimal, Decimal]], marks: Decimal, a: Decimal, b: Decimal
) -> None:
    thresholds = sorted(t for t, _ in raw)
    rising = sorted(s for _, s in raw)
    params = BandsParams.model_validate(
        {"bands": [{"threshold": t, "share": s} for t, s in zip(thresholds, rising, strict=True)]}
    )
    low, high = sorted((a, b))
    score_low = score_bands(params, marks=marks, actual=low, direction="higher_better")
    score_high = score_bands(params, marks=marks, actual=high, direction="higher_better")
    assert 0 <= score_low <= score_high <= marks


@given(shares, marks_st, st.data())
def test_rank_within_floor_and_full_marks(floor: Decimal, marks: Decimal, data: st.DataObject) -> None:
    peers = data.draw(st.integers(1, 200))
    position = data.draw(st.integers(1, peers))
    score = score_rank(RankParams(floor_share=floor), marks=marks, position=position, peer_count=peers)
    assert marks * floor <= score <= marks


@given(st.lists(st.sampled_from("ABCD"), min_size=1, max_size=30), marks_st)
def test_trimmed_mean_within_min_and_max_rating(ratings: list[str], marks: Decimal) -> None:
    score = score_grade(GRADES, marks=marks, ratings=ratings)
    given_shares = [GRADES.shares[r] for r in ratings]
    assert marks * min(given_shares) <= score <= marks * max(given_shares)


@given(positive, positive, st.integers(0, 10_000))
def test_bonus_and_deduction_never_exceed_their_cap(per_item: Decimal, cap: Decimal, count: int) -> None:
    bonus = score_bonus(BonusParams(per_item=per_item, cap=cap), count=count)
    deduction = score_deduction(DeductionParams(per_item=per_item, cap=cap), count=count)
    assert 0 <= bonus <= cap
    assert -cap <= deduction <= 0
    assert bonus == -deduction


@given(marks_st, st.decimals(min_value=-50, max_value=150, places=2))
def test_satisfaction_within_marks(marks: Decimal, index: Decimal) -> None:
    assert 0 <= score_satisfaction(SatisfactionParams(), marks=marks, index=index) <= marks
