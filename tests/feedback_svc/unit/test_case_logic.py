"""Pure rules of improvement cases: triggers, recommendations, peer statistics, states."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.appraisal_results import LeafResult
from services.feedback_svc.case import logic
from services.feedback_svc.case.logic import CaseAction, CasePolicy, CaseStatus
from tests.feedback_svc.support import GRADES, county, leaf, three_counties

values = st.decimals(min_value=0, max_value=10_000, places=2, allow_nan=False, allow_infinity=False)


def diagnose(obj, peers, previous=None, policy=CasePolicy()):
    stats = logic.peer_statistics(peers)
    return logic.diagnose(obj, peers=stats, previous=previous, policy=policy, grade_scale=GRADES)


def test_short_county_gets_a_case_with_actionable_sentences():
    futian, luohu, nanshan = three_counties()
    diagnosis = diagnose(futian, [futian, luohu, nanshan], policy=CasePolicy(grade_cutoff="C"))
    assert diagnosis.reasons == ("low_attainment:ECO-01", "low_satisfaction:SAT-01", "grade")
    gdp = diagnosis.recommendations[0]
    assert (gdp.indicator_code, gdp.gap, gdp.peer_best, gdp.peer_median) == (
        "ECO-01",
        Decimal("3.0"),
        Decimal("6.5"),
        Decimal("5.0"),
    )
    assert gdp.text.startswith("GDP growth (ECO-01): 3 against a target of 6, a gap of 3; it earned 50% of its marks.")
    assert "Among 3 peers the best is 6.5 and the median 5." in gdp.text
    assert "no result from the previous cycle" in gdp.text


def test_good_county_gets_no_case():
    futian, luohu, nanshan = three_counties()
    assert not diagnose(luohu, [futian, luohu, nanshan]).opens_case


def test_trend_compares_with_the_previous_cycle():
    futian = three_counties()[0]
    last_year = county("Futian", leaves=[leaf("ECO-01", 4.0, 6.0)], object_id=futian.object_id, grade="B")
    rec = diagnose(futian, [futian], previous=last_year).recommendations[0]
    assert (rec.previous_value, rec.trend) == (Decimal("4.0"), "declined")
    assert "down from 4 last cycle (declined)" in rec.text
    grade_rec = diagnose(futian, [futian], previous=last_year, policy=CasePolicy(grade_cutoff="C")).recommendations[-1]
    assert "(last cycle B)" in grade_rec.text


def test_veto_opens_a_case_even_with_full_marks():
    vetoed = county("Baoan", leaves=[leaf("ECO-01", 9, 6)], grade="C", vetoed=True)
    diagnosis = diagnose(vetoed, [vetoed], policy=CasePolicy(grade_cutoff="D"))
    assert diagnosis.reasons == ("veto",)
    assert "SAFETY-MAJOR" in diagnosis.recommendations[0].text


def test_missing_value_is_a_reason_and_says_so():
    gap = county("Longgang", leaves=[leaf("ECO-01", None, 6)])
    diagnosis = diagnose(gap, [gap])
    assert diagnosis.reasons == ("low_attainment:ECO-01",)
    assert "no accepted value was submitted" in diagnosis.recommendations[0].text


def test_a_graded_leaf_is_not_called_missing():
    """A leaf graded by experts carries no figure but earned its share: the text says so."""
    graded = LeafResult(
        indicator_code="E4",
        name="Business environment evaluation",
        kind="qualitative",
        attainment=Decimal("0.566667"),
        marks=Decimal("3.4"),
        max_marks=Decimal(6),
    )
    weak = county("Jiangkou", leaves=[graded], grade="D")
    text = diagnose(weak, [weak]).recommendations[0].text
    assert "graded by its raters, it earned 56.6667% of its marks" in text
    assert "no accepted value" not in text
    assert "There is no result from the previous cycle to compare." in text


def test_lower_better_gap_and_best_point_down():
    def emissions(value):
        return leaf("ENV-02", value, 10, direction="lower_better")

    worse = county("A", leaves=[emissions(14)])
    peers = [worse, county("B", leaves=[emissions(8)]), county("C", leaves=[emissions(11)])]
    rec = logic.indicator_recommendation(worse.leaves[0], logic.peer_statistics(peers), None)
    assert rec.gap == Decimal(4) and rec.peer_best == Decimal(8) and rec.peer_median == Decimal(11)


@pytest.mark.parametrize(
    ("grade", "cutoff", "expected"), [("C", "C", True), ("D", "C", True), ("B", "C", False), ("X", "C", False)]
)
def test_grade_at_or_below(grade, cutoff, expected):
    assert logic.grade_at_or_below(grade, cutoff, GRADES) is expected


@given(st.lists(values, min_size=1, max_size=30), st.booleans())
def test_peer_median_lies_between_worst_and_best(peer_values, lower_better):
    peers = [county(f"c{i}", leaves=[leaf("ECO-01", float(v), 100)]) for i, v in enumerate(peer_values)]
    stats = logic.peer_statistics(peers)["ECO-01"]
    best, middle = stats.best(lower_better=lower_better), stats.median
    assert stats.count == len(peer_values)
    assert min(peer_values) <= middle <= max(peer_values)
    assert (best <= middle) if lower_better else (best >= middle)


@given(st.lists(values, min_size=1, max_size=12), st.randoms())
def test_recommendation_does_not_depend_on_peer_order(peer_values, rnd):
    peers = [county(f"c{i}", leaves=[leaf("ECO-01", float(v), 100)]) for i, v in enumerate(peer_values)]
    shuffled = peers[:]
    rnd.shuffle(shuffled)
    first = logic.indicator_recommendation(peers[0].leaves[0], logic.peer_statistics(peers), None)
    second = logic.indicator_recommendation(peers[0].leaves[0], logic.peer_statistics(shuffled), None)
    assert first == second


@given(values, values)
def test_gap_is_positive_exactly_when_short_of_target(value, target):
    higher = leaf("X", float(value), float(target) or 1.0)
    gap = logic.gap_to_target(higher)
    assert (gap > 0) == (higher.value < higher.target)


@given(st.lists(st.tuples(st.sampled_from(["A1", "A2", "A3"]), values), max_size=6), values)
def test_case_opens_exactly_when_some_leaf_is_below_the_floor(leaf_values, floor_percent):
    floor = (floor_percent % 100) / 100
    leaves = [leaf(code, float(v), 100) for code, v in dict(leaf_values).items()]
    obj = county("Z", leaves=leaves, grade="A")
    diagnosis = diagnose(obj, [obj], policy=CasePolicy(min_attainment=floor, min_satisfaction=Decimal(0)))
    short = {lf.indicator_code for lf in leaves if lf.attainment is not None and lf.attainment < floor}
    assert diagnosis.opens_case == bool(short)
    assert {r.indicator_code for r in diagnosis.recommendations} == short


def test_every_legal_path_reaches_closed_and_illegal_steps_are_refused():
    status = CaseStatus.open
    for action in (CaseAction.counsel, CaseAction.agree_plan, CaseAction.start, CaseAction.verify, CaseAction.close):
        status = logic.next_status(status, action)
    assert status == CaseStatus.closed
    assert logic.next_status(status, CaseAction.reopen) == CaseStatus.in_progress
    with pytest.raises(logic.IllegalTransition, match="closed cannot escalate"):
        logic.next_status(CaseStatus.closed, CaseAction.escalate)
    with pytest.raises(logic.IllegalTransition):
        logic.next_status(CaseStatus.open, CaseAction.close)


@given(st.sampled_from(list(CaseStatus)), st.sampled_from(list(CaseAction)))
def test_transitions_either_follow_the_table_or_refuse(status, action):
    try:
        result = logic.next_status(status, action)
    except logic.IllegalTransition:
        assert (status, action) not in logic.TRANSITIONS
    else:
        assert logic.TRANSITIONS[(status, action)] == result
        assert status != CaseStatus.closed or action == CaseAction.reopen


@pytest.mark.parametrize(
    ("escalated_from", "back_to"),
    [("open", "open"), ("plan_agreed", "plan_agreed"), ("in_progress", "in_progress"), (None, "in_progress")],
)
def test_resolving_an_escalation_returns_to_where_the_case_was(escalated_from, back_to):
    assert logic.status_after_escalation(escalated_from) == CaseStatus(back_to)
