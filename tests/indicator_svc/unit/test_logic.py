"""Framework rules: validation, tree facts, balance report, content hash and diff."""

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.indicator_svc.data import load_city_framework
from services.indicator_svc.framework.content import (
    DEFAULT_POLICY,
    Category,
    FrameworkContent,
    NatureTag,
)
from services.indicator_svc.framework.logic import (
    balance,
    content_hash,
    diff,
    effective_categories,
    levels,
    normalize_text,
    validate,
)

D = Decimal
TARGET_RATIO = {"method": "target_ratio"}
SATISFACTION = {"method": "satisfaction"}


def leaf(code: str, weight: Any, parent: str | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "code": code,
        "name": fields.pop("name", f"Indicator {code}"),
        "parent_code": parent,
        "weight": weight,
        "scoring": TARGET_RATIO,
        "evaluation_subjects": ["authoritative_source"],
        **fields,
    }


def node(code: str, weight: Any, parent: str | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "code": code,
        "name": fields.pop("name", f"Group {code}"),
        "parent_code": parent,
        "weight": weight,
        **fields,
    }


def framework(*indicators: dict[str, Any], **fields: Any) -> FrameworkContent:
    return FrameworkContent.model_validate(
        {"code": "T", "name": "Test framework", "indicators": list(indicators), **fields}
    )


def base(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    """A valid two-root framework; tests add or replace indicators to break one rule."""
    return [
        node("A", 60, category="economic"),
        leaf("A1", 60, "A"),
        node("B", 40, category="public_satisfaction"),
        leaf("B1", 40, "B", kind="satisfaction", scoring=SATISFACTION, evaluation_subjects=["public"]),
        *extra,
    ]


def found(content: FrameworkContent) -> set[tuple[str, str | None]]:
    return {(p.code, p.indicator_code) for p in validate(content)}


def replace(indicators: list[dict[str, Any]], code: str, **fields: Any) -> list[dict[str, Any]]:
    return [{**i, **fields} if i["code"] == code else i for i in indicators]


def test_base_framework_is_valid() -> None:
    assert validate(framework(*base())) == []


def test_city_framework_is_valid_and_balanced() -> None:
    city = load_city_framework()
    assert validate(city) == []
    report = balance(city)
    assert report.passed, report.checks
    assert 30 <= report.counted_leaves <= 45
    kinds = {i.kind for i in city.indicators}
    assert {"bonus", "deduction", "veto"} <= kinds


def test_duplicate_code() -> None:
    content = framework(*base(leaf("A1", 0, "A", name="Another")))
    assert ("code.duplicate", "A1") in found(content)


def test_unknown_parent() -> None:
    content = framework(*base(leaf("Z1", 0, "Z", name="Orphan")))
    assert found(content) == {("parent.unknown", "Z1")}


def test_cycle_is_reported_once() -> None:
    content = framework(*base(node("C1", 0, "C2"), node("C2", 0, "C1")))
    problems = [p for p in validate(content) if p.code == "tree.cycle"]
    assert len(problems) == 1 and problems[0].indicator_code == "C1"
    assert "C1 -> C2 -> C1" in problems[0].message


def test_self_parent_is_a_cycle() -> None:
    content = framework(*base(node("C", 0, "C")))
    assert ("tree.cycle", "C") in found(content)


def test_too_deep() -> None:
    chain = [
        node("L2", 60, "A"),
        node("L3", 60, "L2"),
        node("L4", 60, "L3"),
        node("L5", 60, "L4"),
        leaf("L6", 60, "L5"),
    ]
    indicators = [i for i in base() if i["code"] != "A1"] + chain
    assert found(framework(*indicators)) == {("tree.too_deep", "L6")}
    assert levels(framework(*indicators))["L6"] == 6


def test_roots_must_sum_to_total_points() -> None:
    problems = validate(framework(*base(), total_points=90))
    assert [(p.code, p.indicator_code) for p in problems] == [("weights.sum_mismatch", None)]
    assert "100" in problems[0].message and "90" in problems[0].message


def test_siblings_must_sum_to_parent() -> None:
    content = framework(*replace(base(), "A1", weight="59.5"), leaf("A2", "0.4", "A"))
    problems = validate(content)
    assert [(p.code, p.indicator_code) for p in problems] == [("weights.sum_mismatch", "A")]
    assert "59.9" in problems[0].message and "60" in problems[0].message


def test_decimal_sums_are_exact() -> None:
    thirds = [leaf(f"A{i}", "20.0000", "A") for i in range(1, 4)]
    indicators = [i for i in base() if i["code"] != "A1"] + thirds
    assert validate(framework(*indicators)) == []


def test_special_indicators_are_excluded_from_sums() -> None:
    bonus = leaf("A9", 0, "A", kind="bonus", scoring={"method": "bonus", "per_item": 1, "cap": 2})
    assert validate(framework(*base(bonus))) == []


def test_special_indicator_must_weigh_zero() -> None:
    deduction = leaf("A9", 5, "A", kind="deduction", scoring={"method": "deduction", "per_item": 1, "cap": 2})
    assert found(framework(*base(deduction))) == {("special.nonzero_weight", "A9")}


def test_special_indicator_must_be_a_leaf() -> None:
    veto = node("A9", 0, "A", kind="veto")
    content = framework(*base(veto, leaf("A91", 0, "A9")))
    assert found(content) == {("special.not_leaf", "A9")}


def test_duplicate_normalized_name() -> None:
    twin = leaf("A2", 0, "A", name="  indicator,  a1!! ")
    assert found(framework(*base(twin))) == {("indicator.duplicate_name", "A2")}


def test_same_source_and_formula_on_two_leaves_overlap() -> None:
    measure = {"data_source": "Statistics Bureau", "formula": "GDP / population"}
    indicators = replace(base(), "A1", **measure)
    twin = leaf("A2", 0, "A", data_source="statistics  bureau.", formula="gdp/population")
    assert found(framework(*indicators, twin)) == {("indicator.overlap", "A2")}


def test_same_source_with_other_formula_is_no_overlap() -> None:
    indicators = replace(base(), "A1", data_source="Bureau", formula="x / y")
    other = leaf("A2", 0, "A", data_source="Bureau", formula="x / z")
    assert validate(framework(*indicators, other)) == []


def test_leaf_without_scoring() -> None:
    content = framework(*replace(base(), "A1", scoring=None))
    assert found(content) == {("leaf.missing_scoring", "A1")}


def test_special_leaf_without_scoring() -> None:
    veto = leaf("A9", 0, "A", kind="veto", scoring=None)
    assert found(framework(*base(veto))) == {("leaf.missing_scoring", "A9")}


def test_leaf_without_subject() -> None:
    content = framework(*replace(base(), "A1", evaluation_subjects=[]))
    assert found(content) == {("leaf.missing_subject", "A1")}


@pytest.mark.parametrize(
    ("kind", "scoring"),
    [
        ("quantitative", {"method": "grade", "scale": "ABCD", "shares": {"A": 1, "B": 1, "C": 1, "D": 0}}),
        ("quantitative", SATISFACTION),
        ("qualitative", TARGET_RATIO),
        ("satisfaction", TARGET_RATIO),
        ("bonus", {"method": "deduction", "per_item": 1, "cap": 1}),
        ("deduction", {"method": "bonus", "per_item": 1, "cap": 1}),
        ("veto", {"method": "bonus", "per_item": 1, "cap": 1}),
    ],
)
def test_scoring_method_must_fit_the_kind(kind: str, scoring: dict[str, Any]) -> None:
    weight = 0 if kind in ("bonus", "deduction", "veto") else 60
    indicators = [i for i in base() if i["code"] != "A1"]
    content = framework(*indicators, leaf("A1", weight, "A", kind=kind, scoring=scoring), total_points=40 + weight)
    problems = {(p.code, p.indicator_code) for p in validate(content)}
    assert ("scoring.kind_mismatch", "A1") in problems
    assert {code for code, _ in problems} <= {"scoring.kind_mismatch", "weights.sum_mismatch"}


def test_target_band_needs_bands() -> None:
    content = framework(*replace(base(), "A1", direction="target_band"))
    assert found(content) == {("scoring.direction_mismatch", "A1")}
    bands = {"method": "bands", "bands": [{"threshold": 1, "share": 1}]}
    assert validate(framework(*replace(base(), "A1", direction="target_band", scoring=bands))) == []


def test_root_needs_category() -> None:
    content = framework(*replace(base(), "A", category=None))
    assert found(content) == {("category.missing_root", "A")}


def test_parent_must_not_carry_scoring() -> None:
    content = framework(*replace(base(), "A", scoring=TARGET_RATIO))
    assert found(content) == {("scoring.not_leaf", "A")}


def test_every_problem_is_reported_at_once() -> None:
    indicators = replace(base(), "A1", scoring=None, evaluation_subjects=[])
    indicators = replace(indicators, "B", category=None)
    broken = [
        *indicators,
        leaf("A1", 0, "A", name="Copy"),
        leaf("Z1", 1, "Z", name="Orphan"),
        node("C1", 0, "C2"),
        node("C2", 0, "C1"),
    ]
    codes = {p.code for p in validate(framework(*broken, total_points=99))}
    assert codes == {
        "code.duplicate",
        "parent.unknown",
        "tree.cycle",
        "weights.sum_mismatch",
        "leaf.missing_scoring",
        "leaf.missing_subject",
        "category.missing_root",
    }


def test_normalize_text() -> None:
    assert normalize_text("  GDP   growth (%)  ") == "gdp growth"
    assert normalize_text("ＧＤＰ，增长") == normalize_text("gdp 增长")  # noqa: RUF001


def test_levels_and_effective_categories() -> None:
    content = framework(*base(node("A2", 0, "A", category="cultural"), leaf("A21", 0, "A2")))
    assert levels(content) == {"A": 1, "A1": 2, "B": 1, "B1": 2, "A2": 2, "A21": 3}
    categories = effective_categories(content)
    assert categories["A1"] == Category.ECONOMIC
    assert categories["A21"] == Category.CULTURAL
    orphan = framework(leaf("X", 1, "nowhere"))
    assert levels(orphan) == {} and effective_categories(orphan) == {"X": None}


# --- balance --------------------------------------------------------------------------


def balanced(**policy: Any) -> FrameworkContent:
    return framework(
        node("EC", 50, category="economic"),
        leaf("EC1", 30, "EC", nature_tags=["quantity", "output", "short_term"]),
        leaf(
            "EC2",
            20,
            "EC",
            nature_tags=["quality", "outcome", "long_term"],
            evaluation_subjects=["experts", "performance_office"],
        ),
        node("SO", 30, category="social"),
        leaf(
            "SO1",
            30,
            "SO",
            kind="qualitative",
            nature_tags=["quality", "input", "long_term"],
            scoring={"method": "bands", "bands": [{"threshold": 1, "share": 1}]},
            evaluation_subjects=["public", "experts", "third_party"],
        ),
        node("PS", 20, category="public_satisfaction"),
        leaf(
            "PS1",
            20,
            "PS",
            kind="satisfaction",
            scoring=SATISFACTION,
            nature_tags=["quality", "outcome", "short_term"],
            evaluation_subjects=["public"],
        ),
        leaf(
            "X",
            0,
            category="government_self_building",
            kind="bonus",
            scoring={"method": "bonus", "per_item": 1, "cap": 3},
        ),
        policy=policy,
    )


def test_balance_report_numbers() -> None:
    content = balanced()
    assert validate(content) == []
    report = balance(content)
    assert report.counted_weight == 100 and report.counted_leaves == 4
    assert report.by_category == {
        Category.ECONOMIC: D("0.5"),
        Category.SOCIAL: D("0.3"),
        Category.PUBLIC_SATISFACTION: D("0.2"),
    }
    assert report.by_nature_tag[NatureTag.QUALITY] == D("0.7")
    assert report.quality_vs_quantity == {NatureTag.QUALITY: D("0.7"), NatureTag.QUANTITY: D("0.3")}
    assert report.input_output_outcome == {
        NatureTag.INPUT: D("0.3"),
        NatureTag.OUTPUT: D("0.3"),
        NatureTag.OUTCOME: D("0.4"),
    }
    assert report.short_vs_long_term == {NatureTag.SHORT_TERM: D("0.5"), NatureTag.LONG_TERM: D("0.5")}
    # EC2: 20 x 1/2 external, SO1: 30 x 3/3, PS1: 20 x 1/1.
    assert report.external_evaluation_share == D("0.6")
    assert report.public_satisfaction_share == D("0.2")


def test_default_policy_flags_the_economic_share() -> None:
    checks = {c.rule: c for c in balance(balanced()).checks}
    assert set(checks) == {
        "min_public_satisfaction_share",
        "max_category_share.economic",
        "min_external_evaluation_share",
    }
    assert checks["min_public_satisfaction_share"].passed
    assert checks["min_external_evaluation_share"].passed
    economic = checks["max_category_share.economic"]
    assert not economic.passed and economic.actual == D("0.5") and economic.limit == D("0.4")
    assert not balance(balanced()).passed


@pytest.mark.parametrize(
    ("rule", "passing", "failing"),
    [
        ("min_public_satisfaction_share", "0.2", "0.2001"),
        ("min_external_evaluation_share", "0.6", "0.6001"),
        ("min_quality_share", "0.7", "0.7001"),
        ("min_long_term_share", "0.5", "0.5001"),
        ("min_outcome_share", "0.4", "0.4001"),
    ],
)
def test_minimum_checks_pass_at_the_limit_and_fail_above(rule: str, passing: str, failing: str) -> None:
    base_policy: dict[str, Any] = {
        "max_category_share": {},
        "min_public_satisfaction_share": None,
        "min_external_evaluation_share": None,
    }
    ok = balance(balanced(**{**base_policy, rule: passing}))
    bad = balance(balanced(**{**base_policy, rule: failing}))
    assert [(c.rule, c.passed) for c in ok.checks] == [(rule, True)] and ok.passed
    assert [(c.rule, c.passed) for c in bad.checks] == [(rule, False)] and not bad.passed


def test_maximum_category_check() -> None:
    report = balance(
        balanced(
            max_category_share={"social": "0.3", "economic": "0.5"},
            min_public_satisfaction_share=None,
            min_external_evaluation_share=None,
        )
    )
    assert report.passed and len(report.checks) == 2
    report = balance(balanced(max_category_share={"social": "0.2999"}))
    assert [c.passed for c in report.checks if c.rule.startswith("max_")] == [False]


def test_balance_of_an_empty_framework() -> None:
    report = balance(framework())
    assert report.counted_weight == 0 and report.by_category == {}
    assert report.external_evaluation_share == 0
    assert not report.passed  # minimum shares cannot be met with no weight


def test_category_shares_add_up_exactly_despite_rounding() -> None:
    content = framework(
        node("A", 1, category="economic"),
        leaf("A1", 1, "A"),
        node("B", 1, category="social"),
        leaf("B1", 1, "B"),
        node("C", 1, category="ecological"),
        leaf("C1", 1, "C"),
        total_points=3,
    )
    shares = balance(content).by_category
    assert sorted(shares.values()) == [D("0.3333"), D("0.3333"), D("0.3334")]


categories = st.sampled_from(list(Category))
weights = st.decimals(min_value=0, max_value=100, places=4)


@given(st.lists(st.tuples(categories, weights), min_size=1, max_size=30))
def test_category_shares_sum_to_one(leaves: list[tuple[Category, Decimal]]) -> None:
    content = framework(*[leaf(f"L{n}", w, category=c, name=f"Leaf {n}") for n, (c, w) in enumerate(leaves)])
    report = balance(content)
    shares = sum(report.by_category.values(), D(0)) + report.uncategorized_share
    if report.counted_weight > 0:
        assert shares == 1
    else:
        assert shares == 0


# --- hash and diff --------------------------------------------------------------------

GRADE = {"method": "grade", "scale": "ABCD", "shares": {"A": "1", "B": "0.8", "C": "0.6", "D": "0.4"}}


def test_hash_ignores_dict_key_order_and_decimal_spelling() -> None:
    first = framework(
        node("A", "100.0", category="economic"),
        leaf("A1", "100", "A", kind="qualitative", scoring=GRADE),
        policy={"max_category_share": {"economic": "0.4", "social": "0.30"}},
    )
    reordered_grade = {**GRADE, "shares": {"D": "0.40", "C": "0.6", "B": "0.80", "A": "1.00"}}
    second = framework(
        node("A", "1E+2", category="economic"),
        leaf("A1", "100.000", "A", kind="qualitative", scoring=reordered_grade),
        policy={"max_category_share": {"social": "0.3", "economic": "0.4000"}},
    )
    assert content_hash(first) == content_hash(second)
    assert len(content_hash(first)) == 64


def test_any_change_changes_the_hash() -> None:
    city = load_city_framework()
    original = content_hash(city)
    first, second, *rest = city.indicators
    variants = [
        city.model_copy(update={"name": city.name + "!"}),
        city.model_copy(update={"indicators": [second, first, *rest]}),
        city.model_copy(update={"indicators": [first.model_copy(update={"weight": D("25.0001")}), second, *rest]}),
        city.model_copy(update={"indicators": [first.model_copy(update={"description": "x"}), second, *rest]}),
        city.model_copy(update={"policy": DEFAULT_POLICY.model_copy(update={"min_outcome_share": D("0.1")})}),
    ]
    hashes = {content_hash(v) for v in variants}
    assert original not in hashes and len(hashes) == len(variants)


def test_diff_of_equal_contents_is_empty() -> None:
    result = diff(load_city_framework(), load_city_framework())
    assert result.model_dump() == {"framework_changes": [], "added": [], "removed": [], "changed": [], "moved": []}


def test_diff_reports_framework_and_indicator_changes() -> None:
    old = load_city_framework()
    by_code = {i.code: i for i in old.indicators}
    changed = [
        i.model_copy(update={"name": "Real GDP growth rate", "weight": D("4.5")})
        if i.code == "E1.1"
        else i.model_copy(update={"parent_code": "E1"})
        if i.code == "E2.3"
        else i
        for i in old.indicators
        if i.code != "X1"
    ]
    added = by_code["M5"].model_copy(update={"code": "M6", "name": "Satisfaction with housing"})
    new = old.model_copy(
        update={
            "name": "Renamed",
            "indicators": [*changed, added],
            "policy": old.policy.model_copy(update={"min_outcome_share": D("0.3")}),
        }
    )
    result = diff(old, new)
    assert [(c.field, c.old, c.new) for c in result.framework_changes] == [
        ("name", old.name, "Renamed"),
        ("policy.min_outcome_share", None, "0.3"),
    ]
    assert result.added == ["M6"] and result.removed == ["X1"]
    assert [(c.code, [(f.field, f.old, f.new) for f in c.changes]) for c in result.changed] == [
        ("E1.1", [("name", "GDP growth rate", "Real GDP growth rate"), ("weight", "4", "4.5")])
    ]
    assert [(m.code, m.old_parent, m.new_parent) for m in result.moved] == [("E2.3", "E2", "E1")]
