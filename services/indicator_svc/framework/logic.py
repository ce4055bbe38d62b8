"""Pure rules over framework content: validation, tree, balance, hash and diff."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from decimal import ROUND_DOWN, Decimal
from enum import Enum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from contracts.scoring import rule_problems
from services.indicator_svc.framework.content import (
    EXTERNAL_SUBJECTS,
    SPECIAL_KINDS,
    Category,
    Direction,
    FrameworkContent,
    IndicatorKind,
    IndicatorSpec,
    NatureTag,
)

MAX_DEPTH = 5
SHARE_PLACES = Decimal("0.0001")
ZERO = Decimal(0)
ZERO_SHARE = Decimal("0.0000")

# Which scoring methods make sense for which kind of indicator.
METHODS_BY_KIND: dict[IndicatorKind, frozenset[str]] = {
    IndicatorKind.QUANTITATIVE: frozenset({"target_ratio", "linear", "bands", "rank"}),
    IndicatorKind.QUALITATIVE: frozenset({"grade", "bands"}),
    IndicatorKind.SATISFACTION: frozenset({"satisfaction"}),
    IndicatorKind.BONUS: frozenset({"bonus"}),
    IndicatorKind.DEDUCTION: frozenset({"deduction"}),
    IndicatorKind.VETO: frozenset({"veto"}),
}


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FrameworkProblem(_Frozen):
    """One reason a framework cannot be published."""

    code: str
    indicator_code: str | None
    message: str


# --- tree facts -----------------------------------------------------------------------


def _first_by_code(content: FrameworkContent) -> dict[str, IndicatorSpec]:
    """Indicators by code; a duplicated code keeps its first occurrence."""
    by_code: dict[str, IndicatorSpec] = {}
    for indicator in content.indicators:
        by_code.setdefault(indicator.code, indicator)
    return by_code


def _ancestry(code: str, by_code: Mapping[str, IndicatorSpec]) -> list[str] | None:
    """Codes from the indicator up to its root; None if the chain breaks or loops."""
    chain = [code]
    seen = {code}
    parent = by_code[code].parent_code
    while parent is not None:
        if parent not in by_code or parent in seen:
            return None
        chain.append(parent)
        seen.add(parent)
        parent = by_code[parent].parent_code
    return chain


def levels(content: FrameworkContent) -> dict[str, int]:
    """Level of every indicator whose ancestry reaches a root (root = 1)."""
    by_code = _first_by_code(content)
    result: dict[str, int] = {}
    for code in by_code:
        chain = _ancestry(code, by_code)
        if chain is not None:
            result[code] = len(chain)
    return result


def effective_categories(content: FrameworkContent) -> dict[str, Category | None]:
    """Each indicator's own category, else its nearest ancestor's, else None."""
    by_code = _first_by_code(content)
    result: dict[str, Category | None] = {}
    for code in by_code:
        chain = _ancestry(code, by_code) or [code]
        result[code] = next(
            (by_code[c].category for c in chain if by_code[c].category is not None),
            None,
        )
    return result


def _children(by_code: Mapping[str, IndicatorSpec]) -> dict[str, list[IndicatorSpec]]:
    children: dict[str, list[IndicatorSpec]] = defaultdict(list)
    for indicator in by_code.values():
        parent = indicator.parent_code
        if parent is not None and parent in by_code:
            children[parent].append(indicator)
    return dict(children)


def _is_special(indicator: IndicatorSpec) -> bool:
    return indicator.kind in SPECIAL_KINDS


def _counted_leaves(content: FrameworkContent) -> list[IndicatorSpec]:
    """Leaves that carry weight: countable kind and attached to a root."""
    by_code = _first_by_code(content)
    children = _children(by_code)
    return [
        i
        for code, i in by_code.items()
        if code not in children and not _is_special(i) and _ancestry(code, by_code) is not None
    ]


# --- validation -----------------------------------------------------------------------

_PUNCTUATION_CATEGORIES = ("P", "S")


def normalize_text(text: str) -> str:
    """Casefolded text without punctuation or symbols and with single spaces."""
    kept = (
        " " if unicodedata.category(ch)[0] in _PUNCTUATION_CATEGORIES else ch
        for ch in unicodedata.normalize("NFKC", text).casefold()
    )
    return re.sub(r"\s+", " ", "".join(kept)).strip()


def _duplicate_codes(content: FrameworkContent) -> list[FrameworkProblem]:
    counts = Counter(i.code for i in content.indicators)
    return [
        FrameworkProblem(
            code="code.duplicate",
            indicator_code=code,
            message=f"Code {code!r} is used by {count} indicators; codes must be unique.",
        )
        for code, count in counts.items()
        if count > 1
    ]


def _tree_problems(by_code: Mapping[str, IndicatorSpec]) -> list[FrameworkProblem]:
    problems: list[FrameworkProblem] = []
    reported_cycles: set[frozenset[str]] = set()
    for code, indicator in by_code.items():
        parent = indicator.parent_code
        if parent is not None and parent not in by_code:
            problems.append(
                FrameworkProblem(
                    code="parent.unknown",
                    indicator_code=code,
                    message=f"Indicator {code!r} names parent {parent!r}, which does not exist.",
                )
            )
            continue
        cycle = _cycle_through(code, by_code)
        if cycle is not None:
            if frozenset(cycle) not in reported_cycles:
                reported_cycles.add(frozenset(cycle))
                problems.append(
                    FrameworkProblem(
                        code="tree.cycle",
                        indicator_code=code,
                        message="Parents form a cycle: " + " -> ".join([*cycle, cycle[0]]) + ".",
                    )
                )
            continue
        chain = _ancestry(code, by_code)
        if chain is not None and len(chain) > MAX_DEPTH:
            problems.append(
                FrameworkProblem(
                    code="tree.too_deep",
                    indicator_code=code,
                    message=f"Indicator {code!r} is at level {len(chain)}; at most {MAX_DEPTH} levels are allowed.",
                )
            )
    return problems


def _cycle_through(code: str, by_code: Mapping[str, IndicatorSpec]) -> list[str] | None:
    """The cycle that contains this indicator, in parent order, if any."""
    chain = [code]
    parent = by_code[code].parent_code
    while parent is not None and parent in by_code:
        if parent == code:
            return chain
        if parent in chain:
            return None  # the chain runs into a cycle this indicator is not part of
        chain.append(parent)
        parent = by_code[parent].parent_code
    return None


def _weight_problems(content: FrameworkContent, by_code: Mapping[str, IndicatorSpec]) -> list[FrameworkProblem]:
    problems: list[FrameworkProblem] = []
    children = _children(by_code)
    roots = [i for i in by_code.values() if i.parent_code is None]
    root_sum = sum((i.weight for i in roots if not _is_special(i)), ZERO)
    if root_sum != content.total_points:
        problems.append(
            FrameworkProblem(
                code="weights.sum_mismatch",
                indicator_code=None,
                message=f"First-level weights sum to {root_sum}, "
                f"but the framework has {content.total_points} total points.",
            )
        )
    for code, kids in children.items():
        if _cycle_through(code, by_code) is not None:
            continue  # a cycle is already reported and has no meaningful sum
        kids_sum = sum((k.weight for k in kids if not _is_special(k)), ZERO)
        if kids_sum != by_code[code].weight:
            problems.append(
                FrameworkProblem(
                    code="weights.sum_mismatch",
                    indicator_code=code,
                    message=f"Children of {code!r} weigh {kids_sum} in total, "
                    f"but {code!r} weighs {by_code[code].weight}.",
                )
            )
    return problems


def _special_problems(indicator: IndicatorSpec, is_leaf: bool) -> list[FrameworkProblem]:
    problems: list[FrameworkProblem] = []
    if not is_leaf:
        problems.append(
            FrameworkProblem(
                code="special.not_leaf",
                indicator_code=indicator.code,
                message=f"{indicator.kind} indicator {indicator.code!r} has children; "
                "bonus, deduction and veto indicators must be leaves.",
            )
        )
    if indicator.weight != 0:
        problems.append(
            FrameworkProblem(
                code="special.nonzero_weight",
                indicator_code=indicator.code,
                message=f"{indicator.kind} indicator {indicator.code!r} weighs "
                f"{indicator.weight}; it must weigh 0 because its cap sets its effect.",
            )
        )
    return problems


def _scoring_problems(indicator: IndicatorSpec, is_leaf: bool, total_points: Decimal) -> list[FrameworkProblem]:
    code = indicator.code
    scoring = indicator.scoring
    if not is_leaf:
        if scoring is None:
            return []
        return [
            FrameworkProblem(
                code="scoring.not_leaf",
                indicator_code=code,
                message=f"Indicator {code!r} has children, so it is scored through "
                f"them and must not carry a {scoring.method} rule.",
            )
        ]
    problems: list[FrameworkProblem] = []
    if scoring is None:
        problems.append(
            FrameworkProblem(
                code="leaf.missing_scoring",
                indicator_code=code,
                message=f"Leaf indicator {code!r} has no scoring method.",
            )
        )
    elif scoring.method not in METHODS_BY_KIND[indicator.kind]:
        allowed = ", ".join(sorted(METHODS_BY_KIND[indicator.kind]))
        problems.append(
            FrameworkProblem(
                code="scoring.kind_mismatch",
                indicator_code=code,
                message=f"{indicator.kind} indicator {code!r} cannot be scored by "
                f"{scoring.method}; use one of: {allowed}.",
            )
        )
    if indicator.direction == Direction.TARGET_BAND and scoring is not None and scoring.method != "bands":
        problems.append(
            FrameworkProblem(
                code="scoring.direction_mismatch",
                indicator_code=code,
                message=f"Indicator {code!r} aims at a target band, which only "
                f"the bands method can score, not {scoring.method}.",
            )
        )
    elif scoring is not None:
        # Parameters that are only wrong with this leaf's direction or the framework's total.
        problems += [
            FrameworkProblem(
                code="scoring.rule_mismatch", indicator_code=code, message=f"Indicator {code!r}: {problem}."
            )
            for problem in rule_problems(scoring, direction=indicator.direction.value, total_points=total_points)
        ]
    if not _is_special(indicator) and not indicator.evaluation_subjects:
        problems.append(
            FrameworkProblem(
                code="leaf.missing_subject",
                indicator_code=code,
                message=f"Leaf indicator {code!r} names no evaluation subject.",
            )
        )
    return problems


def _overlap_problems(content: FrameworkContent, leaf_codes: set[str]) -> list[FrameworkProblem]:
    problems: list[FrameworkProblem] = []
    first_by_name: dict[str, str] = {}
    first_by_measure: dict[tuple[str, str], str] = {}
    for indicator in content.indicators:
        name = normalize_text(indicator.name)
        if name in first_by_name:
            problems.append(
                FrameworkProblem(
                    code="indicator.duplicate_name",
                    indicator_code=indicator.code,
                    message=f"Indicator {indicator.code!r} has the same name as "
                    f"{first_by_name[name]!r} ({indicator.name!r}).",
                )
            )
        else:
            first_by_name[name] = indicator.code
        if indicator.code not in leaf_codes or not (indicator.data_source and indicator.formula):
            continue
        measure = (
            normalize_text(indicator.data_source),
            normalize_text(indicator.formula),
        )
        if measure in first_by_measure:
            problems.append(
                FrameworkProblem(
                    code="indicator.overlap",
                    indicator_code=indicator.code,
                    message=f"Indicator {indicator.code!r} measures the same data "
                    f"source and formula as {first_by_measure[measure]!r}, "
                    "so it would count twice.",
                )
            )
        else:
            first_by_measure[measure] = indicator.code
    return problems


def validate(content: FrameworkContent) -> list[FrameworkProblem]:
    """Every problem that blocks publishing, all at once."""
    by_code = _first_by_code(content)
    children = _children(by_code)
    leaf_codes = {code for code in by_code if code not in children}
    problems = _duplicate_codes(content)
    problems += _tree_problems(by_code)
    problems += _weight_problems(content, by_code)
    for code, indicator in by_code.items():
        is_leaf = code in leaf_codes
        if indicator.parent_code is None and indicator.category is None:
            problems.append(
                FrameworkProblem(
                    code="category.missing_root",
                    indicator_code=code,
                    message=f"First-level indicator {code!r} has no category.",
                )
            )
        if _is_special(indicator):
            problems += _special_problems(indicator, is_leaf)
        problems += _scoring_problems(indicator, is_leaf, content.total_points)
    problems += _overlap_problems(content, leaf_codes)
    return problems


# --- balance report -------------------------------------------------------------------


class PolicyCheck(_Frozen):
    rule: str
    limit: Decimal
    actual: Decimal
    passed: bool


class BalanceReport(_Frozen):
    counted_weight: Decimal
    counted_leaves: int
    by_category: dict[Category, Decimal]
    uncategorized_share: Decimal
    by_nature_tag: dict[NatureTag, Decimal]
    quality_vs_quantity: dict[NatureTag, Decimal]
    input_output_outcome: dict[NatureTag, Decimal]
    short_vs_long_term: dict[NatureTag, Decimal]
    external_evaluation_share: Decimal
    public_satisfaction_share: Decimal
    checks: list[PolicyCheck]
    passed: bool


K = TypeVar("K")

QUALITY_PAIR = (NatureTag.QUALITY, NatureTag.QUANTITY)
RESULT_CHAIN = (NatureTag.INPUT, NatureTag.OUTPUT, NatureTag.OUTCOME)
TERM_PAIR = (NatureTag.SHORT_TERM, NatureTag.LONG_TERM)


def _ratio(part: Decimal, whole: Decimal) -> Decimal:
    return (part / whole).quantize(SHARE_PLACES) if whole else ZERO_SHARE


def _shares_of_whole(weights: Mapping[K, Decimal]) -> dict[K, Decimal]:
    """Shares rounded to 4 places by largest remainder, so they add up to exactly 1."""
    whole = sum(weights.values(), ZERO)
    if not whole:
        return {key: ZERO_SHARE for key in weights}
    exact = {key: w / whole for key, w in weights.items()}
    floored = {key: s.quantize(SHARE_PLACES, rounding=ROUND_DOWN) for key, s in exact.items()}
    missing_steps = int((1 - sum(floored.values(), ZERO)) / SHARE_PLACES)
    by_remainder = sorted(weights, key=lambda key: exact[key] - floored[key], reverse=True)
    for key in by_remainder[:missing_steps]:
        floored[key] += SHARE_PLACES
    return floored


def _weight_by(leaves: Iterable[IndicatorSpec], key: Callable[[IndicatorSpec], Iterable[K]]) -> dict[K, Decimal]:
    totals: dict[K, Decimal] = defaultdict(lambda: ZERO)
    for leaf in leaves:
        for k in key(leaf):
            totals[k] += leaf.weight
    return dict(totals)


def _external_weight(leaf: IndicatorSpec) -> Decimal:
    subjects = leaf.evaluation_subjects
    if not subjects:
        return ZERO
    external = sum(1 for s in subjects if s in EXTERNAL_SUBJECTS)
    return leaf.weight * external / len(subjects)


def _check_min(rule: str, limit: Decimal | None, part: Decimal, whole: Decimal) -> list[PolicyCheck]:
    if limit is None:
        return []
    # Compare part >= limit * whole: exact, with no rounded division in the way.
    passed = part >= limit * whole if whole else limit == 0
    return [PolicyCheck(rule=rule, limit=limit, actual=_ratio(part, whole), passed=passed)]


def balance(content: FrameworkContent) -> BalanceReport:
    """How the counted weight spreads over categories, nature tags and evaluators."""
    leaves = _counted_leaves(content)
    categories = effective_categories(content)
    total = sum((leaf.weight for leaf in leaves), ZERO)
    by_category = _weight_by(leaves, lambda leaf: [categories[leaf.code]])
    by_tag = _weight_by(leaves, lambda leaf: leaf.nature_tags)
    category_shares = _shares_of_whole(by_category)
    external = sum((_external_weight(leaf) for leaf in leaves), ZERO)
    satisfaction = sum(
        (
            leaf.weight
            for leaf in leaves
            if leaf.kind == IndicatorKind.SATISFACTION or categories[leaf.code] == Category.PUBLIC_SATISFACTION
        ),
        ZERO,
    )

    def group(tags: tuple[NatureTag, ...]) -> dict[NatureTag, Decimal]:
        return _shares_of_whole({tag: by_tag.get(tag, ZERO) for tag in tags})

    def tagged(tags: tuple[NatureTag, ...]) -> Decimal:
        return sum((by_tag.get(tag, ZERO) for tag in tags), ZERO)

    policy = content.policy
    checks = _check_min(
        "min_public_satisfaction_share",
        policy.min_public_satisfaction_share,
        satisfaction,
        total,
    )
    for category, limit in sorted(policy.max_category_share.items()):
        part = by_category.get(category, ZERO)
        checks.append(
            PolicyCheck(
                rule=f"max_category_share.{category}",
                limit=limit,
                actual=_ratio(part, total),
                passed=part <= limit * total,
            )
        )
    checks += _check_min(
        "min_external_evaluation_share",
        policy.min_external_evaluation_share,
        external,
        total,
    )
    checks += _check_min(
        "min_quality_share",
        policy.min_quality_share,
        by_tag.get(NatureTag.QUALITY, ZERO),
        tagged(QUALITY_PAIR),
    )
    checks += _check_min(
        "min_long_term_share",
        policy.min_long_term_share,
        by_tag.get(NatureTag.LONG_TERM, ZERO),
        tagged(TERM_PAIR),
    )
    checks += _check_min(
        "min_outcome_share",
        policy.min_outcome_share,
        by_tag.get(NatureTag.OUTCOME, ZERO),
        tagged(RESULT_CHAIN),
    )
    return BalanceReport(
        counted_weight=total,
        counted_leaves=len(leaves),
        by_category={c: s for c, s in category_shares.items() if c is not None},
        uncategorized_share=category_shares.get(None, ZERO_SHARE),
        by_nature_tag={tag: _ratio(by_tag[tag], total) for tag in NatureTag if tag in by_tag},
        quality_vs_quantity=group(QUALITY_PAIR),
        input_output_outcome=group(RESULT_CHAIN),
        short_vs_long_term=group(TERM_PAIR),
        external_evaluation_share=_ratio(external, total),
        public_satisfaction_share=_ratio(satisfaction, total),
        checks=checks,
        passed=all(check.passed for check in checks),
    )


# --- hash -----------------------------------------------------------------------------


def _canonical(value: Any) -> Any:
    """JSON-ready value in which equal Decimals and enum members have one spelling."""
    if isinstance(value, Decimal):
        return "0" if value == 0 else format(value.normalize(), "f")
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(_canonical(k)): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def canonical_json(content: FrameworkContent) -> bytes:
    document = _canonical(content.model_dump(mode="python"))
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_hash(content: FrameworkContent) -> str:
    """sha256 of the canonical JSON: semantically equal contents hash equal."""
    return hashlib.sha256(canonical_json(content)).hexdigest()


# --- diff -----------------------------------------------------------------------------


class FieldChange(_Frozen):
    field: str
    old: Any
    new: Any


class IndicatorChange(_Frozen):
    code: str
    changes: list[FieldChange]


class IndicatorMove(_Frozen):
    code: str
    old_parent: str | None
    new_parent: str | None


class FrameworkDiff(_Frozen):
    framework_changes: list[FieldChange]
    added: list[str]
    removed: list[str]
    # Field changes other than the parent (see moved), in the new list order.
    changed: list[IndicatorChange]
    moved: list[IndicatorMove]


def _field_changes(old: BaseModel, new: BaseModel, skip: frozenset[str]) -> list[FieldChange]:
    # Compare canonical forms so Decimal("1.0") vs Decimal("1") is no change.
    old_values = _canonical(old.model_dump(mode="python"))
    new_values = _canonical(new.model_dump(mode="python"))
    return [
        FieldChange(field=name, old=old_values[name], new=new_values[name])
        for name in type(new).model_fields
        if name not in skip and old_values[name] != new_values[name]
    ]


def diff(old: FrameworkContent, new: FrameworkContent) -> FrameworkDiff:
    """What changed from old to new (values in canonical JSON form), in stable order."""
    framework_changes = _field_changes(old, new, frozenset({"policy", "indicators"}))
    framework_changes += [
        change.model_copy(update={"field": f"policy.{change.field}"})
        for change in _field_changes(old.policy, new.policy, frozenset())
    ]
    old_by_code = _first_by_code(old)
    new_by_code = _first_by_code(new)
    changed: list[IndicatorChange] = []
    moved: list[IndicatorMove] = []
    for code, indicator in new_by_code.items():
        before = old_by_code.get(code)
        if before is None:
            continue
        changes = _field_changes(before, indicator, frozenset({"parent_code"}))
        if changes:
            changed.append(IndicatorChange(code=code, changes=changes))
        if before.parent_code != indicator.parent_code:
            moved.append(
                IndicatorMove(
                    code=code,
                    old_parent=before.parent_code,
                    new_parent=indicator.parent_code,
                )
            )
    return FrameworkDiff(
        framework_changes=framework_changes,
        added=[code for code in new_by_code if code not in old_by_code],
        removed=[code for code in old_by_code if code not in new_by_code],
        changed=changed,
        moved=moved,
    )
