"""Framework content: the plain data that is validated, hashed, exported and diffed."""

from __future__ import annotations

import unicodedata
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from contracts.scoring import ScoringRule


class Category(StrEnum):
    ECONOMIC = "economic"
    SOCIAL = "social"
    ECOLOGICAL = "ecological"
    CULTURAL = "cultural"
    PUBLIC_SERVICE = "public_service"
    GOVERNMENT_SELF_BUILDING = "government_self_building"
    PUBLIC_SATISFACTION = "public_satisfaction"


class NatureTag(StrEnum):
    QUALITY = "quality"
    QUANTITY = "quantity"
    INPUT = "input"
    OUTPUT = "output"
    OUTCOME = "outcome"
    SHORT_TERM = "short_term"
    LONG_TERM = "long_term"


class IndicatorKind(StrEnum):
    QUANTITATIVE = "quantitative"
    QUALITATIVE = "qualitative"
    SATISFACTION = "satisfaction"
    BONUS = "bonus"
    DEDUCTION = "deduction"
    VETO = "veto"


# Special kinds adjust the result through their own caps; they carry no weight.
SPECIAL_KINDS: frozenset[IndicatorKind] = frozenset({IndicatorKind.BONUS, IndicatorKind.DEDUCTION, IndicatorKind.VETO})


class Direction(StrEnum):
    HIGHER_BETTER = "higher_better"
    LOWER_BETTER = "lower_better"
    TARGET_BAND = "target_band"


class EvaluationSubject(StrEnum):
    PERFORMANCE_OFFICE = "performance_office"
    SELF_ASSESSMENT = "self_assessment"
    PEER_DEPARTMENTS = "peer_departments"
    EXPERTS = "experts"
    PUBLIC = "public"
    SERVICE_USERS = "service_users"
    PEOPLES_CONGRESS = "peoples_congress"
    THIRD_PARTY = "third_party"
    AUTHORITATIVE_SOURCE = "authoritative_source"


# Evaluators outside the appraised government system [3.6].
EXTERNAL_SUBJECTS: frozenset[EvaluationSubject] = frozenset(
    {
        EvaluationSubject.EXPERTS,
        EvaluationSubject.PUBLIC,
        EvaluationSubject.SERVICE_USERS,
        EvaluationSubject.PEOPLES_CONGRESS,
        EvaluationSubject.THIRD_PARTY,
    }
)

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
MAX_INDICATORS = 2000


def _reject_unstorable_characters(text: str) -> str:
    # Control characters (other than newline and tab), surrogates and XML non-characters
    # cannot survive an Excel or YAML round trip, so they are refused at the edge.
    for char in text:
        if char in "\n\t":
            continue
        if unicodedata.category(char) in ("Cc", "Cs") or char in "\ufffe\uffff":
            raise ValueError(f"text contains a forbidden control character U+{ord(char):04X}")
    return text


def _blank_to_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def _unique(items: list[StrEnum]) -> list[StrEnum]:
    repeated = sorted({str(i) for i in items if items.count(i) > 1})
    if repeated:
        raise ValueError(f"values must be unique, repeated: {repeated}")
    return items


Code = Annotated[str, Field(pattern=CODE_PATTERN)]
_Storable = AfterValidator(_reject_unstorable_characters)
Name = Annotated[str, Field(min_length=1, max_length=200), _Storable]
# Blank optional text means "absent", so spreadsheets, YAML and JSON agree.
_Blank = BeforeValidator(_blank_to_none)
Text32 = Annotated[Annotated[str, Field(min_length=1, max_length=32), _Storable] | None, _Blank]
Text200 = Annotated[Annotated[str, Field(min_length=1, max_length=200), _Storable] | None, _Blank]
Text500 = Annotated[Annotated[str, Field(min_length=1, max_length=500), _Storable] | None, _Blank]
Text2000 = Annotated[Annotated[str, Field(min_length=1, max_length=2000), _Storable] | None, _Blank]
Text4000 = Annotated[Annotated[str, Field(min_length=1, max_length=4000), _Storable] | None, _Blank]


def plain_decimal(value: Decimal) -> Decimal:
    """One spelling per number (120.5, never 120.5000 from a NUMERIC column, nor 1E+2)."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


_Plain = AfterValidator(plain_decimal)
Share = Annotated[Decimal, Field(ge=0, le=1, decimal_places=4), _Plain]
Points = Annotated[Decimal, Field(ge=0, le=1000, decimal_places=4), _Plain]
TotalPoints = Annotated[Decimal, Field(gt=0, le=1000, decimal_places=4), _Plain]


class _Content(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class IndicatorSpec(_Content):
    code: Code
    name: Name
    parent_code: Code | None = None
    weight: Points
    category: Category | None = None  # None: inherit from the nearest ancestor
    nature_tags: Annotated[list[NatureTag], Field(max_length=7), AfterValidator(_unique)] = []
    kind: IndicatorKind = IndicatorKind.QUANTITATIVE
    direction: Direction = Direction.HIGHER_BETTER
    unit: Text32 = None
    scoring: ScoringRule | None = None
    evaluation_subjects: Annotated[list[EvaluationSubject], Field(max_length=9), AfterValidator(_unique)] = []
    data_source: Text500 = None
    formula: Text500 = None
    responsible_unit: Text200 = None
    legal_basis: Text500 = None
    description: Text2000 = None


class BalancePolicy(_Content):
    """Limits on how weight is spread [2.3]; None switches a rule off."""

    min_public_satisfaction_share: Share | None = Decimal("0.15")
    max_category_share: dict[Category, Share] = Field(default_factory=lambda: {Category.ECONOMIC: Decimal("0.40")})
    min_external_evaluation_share: Share | None = Decimal("0.20")
    min_quality_share: Share | None = None  # quality / (quality + quantity) tagged weight
    min_long_term_share: Share | None = None  # long_term / (short_term + long_term)
    min_outcome_share: Share | None = None  # outcome / (input + output + outcome)


DEFAULT_POLICY = BalancePolicy()


class FrameworkContent(_Content):
    code: Code
    name: Name
    description: Text4000 = None
    total_points: TotalPoints = Decimal(100)
    policy: BalancePolicy = DEFAULT_POLICY
    # List order is the display order among siblings.
    indicators: list[IndicatorSpec] = Field(default=[], max_length=MAX_INDICATORS)
