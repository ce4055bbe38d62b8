"""Pure rules of appraisal_svc, without I/O."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.scoring import BandsParams, LinearParams, SatisfactionParams, TargetRatioParams, target_problem
from services.appraisal_svc.collection.logic import beyond, is_peer_outlier, relative_change, robust_z
from services.appraisal_svc.collection.models import DataPoint
from services.appraisal_svc.cycle.logic import problems as cycle_problems
from services.appraisal_svc.orgunit.logic import parent_problem
from services.appraisal_svc.orgunit.models import UnitKind
from services.appraisal_svc.plan.logic import grade_problems, uncovered_subjects, weight_problems
from services.appraisal_svc.scoring.logic import SOURCE_PRECEDENCE
from services.appraisal_svc.target.logic import equal_shares, is_additive, split

# Values on a grid keep float rounding out of the invariants under test.
values = st.integers(min_value=-(10**6), max_value=10**6).map(lambda i: i / 4)
peer_lists = st.lists(values, min_size=3, max_size=40)


@given(peer_lists, st.integers(min_value=-1000, max_value=1000), st.sampled_from([0.25, 0.5, 2.0, 8.0]))
def test_robust_z_does_not_depend_on_the_unit_or_origin_of_measurement(peers, shift, scale):
    value = peers[0]
    z = robust_z(value, peers)
    moved = robust_z(value * scale + shift, [p * scale + shift for p in peers])
    if z is None:
        assert moved is None or abs(moved) < 1e-6
    else:
        assert moved is not None and moved == pytest.approx(z, rel=1e-6, abs=1e-6)


@given(peer_lists)
def test_robust_z_is_antisymmetric_and_zero_at_the_median(peers):
    mirrored = [-p for p in peers]
    z, mz = robust_z(peers[0], peers), robust_z(-peers[0], mirrored)
    assert (z is None and mz is None) or (z is not None and mz is not None and z == pytest.approx(-mz, abs=1e-9))


def test_robust_z_cases():
    assert robust_z(5, [5, 5, 5, 5]) is None  # every peer agrees: nothing is an outlier
    assert robust_z(130, [100] * 5 + [130]) == pytest.approx(30 / (1.253314 * 5))  # MAD = 0 fallback
    assert is_peer_outlier(500, [100, 102, 98, 101, 99, 500], threshold=3.5, min_peers=5)
    assert not is_peer_outlier(500, [100, 500], threshold=3.5, min_peers=5)  # too few peers to judge


def test_relative_change_and_tolerance():
    assert relative_change(150, 100) == 0.5 and relative_change(1, 0) is None
    assert beyond(151, 100, 0.5) and not beyond(150, 100, 0.5) and beyond(1, 0, 0.5) and not beyond(0, 0, 0.5)


@given(
    st.decimals(min_value=0, max_value=10**9, places=6, allow_nan=False, allow_infinity=False),
    st.integers(min_value=1, max_value=60),
)
def test_an_equal_split_adds_up_exactly(total, n):
    parts = split(total, equal_shares(n))
    assert sum(parts, Decimal(0)) == total and len(parts) == n
    assert max(parts) - min(parts) <= Decimal("0.000001") * n


def test_additivity():
    assert (
        is_additive("people", "target_ratio")
        and not is_additive("%", "linear")
        and not is_additive(None, "satisfaction")
    )


@pytest.mark.parametrize(
    ("rule", "target", "direction", "ok"),
    [
        (TargetRatioParams(), Decimal(0), "higher_better", False),
        (TargetRatioParams(), Decimal(-1), "lower_better", False),
        (TargetRatioParams(), Decimal("0.1"), "higher_better", True),
        (LinearParams(floor=Decimal(75)), Decimal(75), "higher_better", False),
        (LinearParams(floor=Decimal(75)), Decimal(74), "higher_better", False),
        (LinearParams(floor=Decimal(75)), Decimal(74), "lower_better", True),
        (LinearParams(floor=Decimal(75)), Decimal(80), "lower_better", False),
        (
            BandsParams(bands=[{"threshold": 10, "share": "0.5"}, {"threshold": 30, "share": 1}]),
            Decimal(31),
            "higher_better",
            False,
        ),
        (
            BandsParams(bands=[{"threshold": 10, "share": "0.5"}, {"threshold": 30, "share": 1}]),
            Decimal(20),
            "higher_better",
            True,
        ),
        (SatisfactionParams(), Decimal(101), "higher_better", False),
        (None, Decimal(0), "higher_better", True),
        (TargetRatioParams(), Decimal("NaN"), "higher_better", False),
        (TargetRatioParams(), Decimal("Infinity"), "higher_better", False),
    ],
)
def test_targets_are_checked_against_their_rule_when_set(rule, target, direction, ok):
    assert (target_problem(rule, target=target, direction=direction) is None) == ok


def test_plan_rules():
    assert weight_problems({"a": Decimal("0.5"), "b": Decimal("0.5")}) == []
    assert weight_problems({"a": Decimal("0.5")}) and weight_problems({})
    assert grade_problems([("A", Decimal(90)), ("B", Decimal(60)), ("C", Decimal(0))]) == []
    assert grade_problems([("A", Decimal(60)), ("B", Decimal(90)), ("C", Decimal(0))])
    assert grade_problems([("A", Decimal(90)), ("B", Decimal(60))])  # 0 to 59 would get no grade
    assert grade_problems([("A", Decimal(90)), ("A", Decimal(0))])
    assert uncovered_subjects({"public": Decimal(1)}, [["public"], ["experts", "public"]]) == ["experts"]


def test_org_tree_rules():
    assert parent_problem(UnitKind.city, None) is None  # a city platform starts at the city
    assert parent_problem(UnitKind.department, None)
    assert parent_problem(UnitKind.county, UnitKind.city) is None
    assert parent_problem(UnitKind.township, UnitKind.province) is None  # levels may be skipped downwards
    assert parent_problem(UnitKind.city, UnitKind.county)
    assert parent_problem(UnitKind.county, UnitKind.department)
    assert parent_problem(UnitKind.department, UnitKind.township) is None


def test_cycle_rules():
    year = ("annual", dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    assert cycle_problems("quarterly", "2026-Q3", dt.date(2026, 7, 1), dt.date(2026, 9, 30), year) == []
    assert {
        p["field"] for p in cycle_problems("quarterly", "2026-3", dt.date(2026, 7, 1), dt.date(2027, 1, 30), year)
    } == {"label", "parent_id"}
    assert cycle_problems("annual", "2026", dt.date(2026, 1, 1), dt.date(2026, 12, 31), year)[0]["field"] == "parent_id"
    assert cycle_problems("term", "2023-2027", dt.date(2023, 1, 1), dt.date(2022, 1, 1), None)[0]["field"] == "ends_on"


def test_the_source_precedence_is_the_byte_order_of_the_source_names():
    # The engine takes the value that counts as the first of its (object, metric) in the unique
    # index's order (engine.CHOSEN); a source added or renamed out of that order must fail here.
    assert list(SOURCE_PRECEDENCE) == sorted(SOURCE_PRECEDENCE, key=str.encode)
    allowed = next(c for c in DataPoint.__table__.constraints if str(getattr(c, "name", "")).endswith("source"))
    assert sorted(re.findall(r"'(\w+)'", str(allowed.sqltext))) == sorted(SOURCE_PRECEDENCE)
