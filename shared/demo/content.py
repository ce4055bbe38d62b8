"""What the demo year is about: the org tree, the people, the city framework and the survey.

Plain data, named by natural keys (org paths, usernames, indicator codes), so a second run finds
what the first one made. Every path sits under one province code, so a test can run its own year
next to the demo's."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

CITY = "jz"
COUNTIES: tuple[tuple[str, str], ...] = (
    ("c1", "Anping County"),
    ("c2", "Baishui County"),
    ("c3", "Changle County"),
    ("c4", "Dongshan County"),
    ("c5", "Fengyang County"),
    ("c6", "Gaotang County"),
    ("c7", "Heshui County"),
    ("c8", "Jiangkou County"),
)
COUNTY_DEPARTMENTS: tuple[tuple[str, str], ...] = (
    ("edu", "Education Bureau"),
    ("env", "Ecology and Environment Bureau"),
)
CYCLE_LABEL = "2026"
GRADES = (("A", 90), ("B", 75), ("C", 60), ("D", 0))
SUBJECT_WEIGHTS = {
    "authoritative_source": "0.5",
    "performance_office": "0.15",
    "public": "0.2",
    "experts": "0.15",
}


def org_rows(province: str) -> list[dict[str, str]]:
    """The province, its city, eight counties and each county's departments, parents first."""
    city = f"/{province}/{CITY}"
    rows = [
        {"org_path": f"/{province}", "name": "Huaxi Province", "kind": "province"},
        {"org_path": city, "name": "Jinzhou City", "kind": "city"},
    ]
    for code, name in COUNTIES:
        rows.append({"org_path": f"{city}/{code}", "name": name, "kind": "county", "peer_group": "county"})
    for code, name in COUNTIES:
        for dept, dept_name in COUNTY_DEPARTMENTS:
            rows.append({"org_path": f"{city}/{code}/{dept}", "name": f"{name} {dept_name}", "kind": "department"})
    return rows


@dataclass(frozen=True)
class Person:
    username: str
    display_name: str
    roles: tuple[str, ...]
    org_path: str


def people(province: str, *, experts: int) -> list[Person]:
    """One account for every role the year needs; counties each get their own data clerk."""
    city = f"/{province}/{CITY}"
    found = [
        Person(f"{province}-office", "City performance office", ("perf_office",), city),
        # The province's office accepts the city's own values (nobody decides on their own unit's).
        Person(f"{province}-province-office", "Provincial performance office", ("perf_office",), f"/{province}"),
        Person(f"{province}-city-clerk", "City statistics clerk", ("department",), city),
        # Outside the city's own unit: nobody verifies data of the unit they belong to.
        Person(f"{province}-verifier", "Provincial data verifier", ("verifier",), f"/{province}"),
        Person(f"{province}-finance", "City finance bureau", ("finance",), city),
        Person(f"{province}-audit", "City audit bureau", ("audit",), city),
        Person(f"{province}-supervision", "City supervision commission", ("supervision",), city),
        Person(f"{province}-legal", "City legal affairs office", ("legal",), city),
        Person(f"{province}-investigator", "Survey fieldwork lead", ("investigator",), city),
    ]
    found += [
        # At the province: an expert never rates their own unit or one above it.
        Person(f"{province}-expert{i}", f"Business environment expert {i}", ("expert",), f"/{province}")
        for i in range(1, experts + 1)
    ]
    found += [
        Person(f"{province}-{code}-clerk", f"{name} data clerk", ("department",), f"{city}/{code}")
        for code, name in COUNTIES
    ]
    return found


def password_for(admin_password: str, username: str) -> str:
    """Deterministic per account, derived from the admin's password (a secret the repository never
    holds): a second run signs in with the same passwords and prints them again."""
    digest = hmac.new(admin_password.encode(), f"govperf-demo:{username}".encode(), hashlib.sha256).digest()
    return "demo-" + base64.urlsafe_b64encode(digest[:15]).decode()


def _leaf(
    code: str, parent: str, name: str, weight: int, scoring: dict[str, Any], subjects: list[str], **extra: Any
) -> dict[str, Any]:
    return {
        "code": code,
        "parent_code": parent,
        "name": name,
        "weight": weight,
        "scoring": scoring,
        "evaluation_subjects": subjects,
        **extra,
    }


def framework_document(province: str) -> dict[str, Any]:
    """The city's framework: leaves of every kind of method (ratio, linear, bands, rank, expert
    grades, public satisfaction, bonus, deduction and a one-vote veto)."""
    authoritative = ["authoritative_source"]
    indicators: list[dict[str, Any]] = [
        {"code": "E", "name": "Economic development", "weight": 30, "category": "economic"},
        _leaf(
            "E1",
            "E",
            "GDP growth rate",
            10,
            {"method": "target_ratio", "cap": 1.2},
            authoritative,
            unit="%",
            nature_tags=["quantity", "output", "short_term"],
        ),
        _leaf(
            "E2",
            "E",
            "Fixed-asset investment in infrastructure",
            8,
            {"method": "linear", "floor": 0, "cap": 1},
            authoritative,
            unit="100 million CNY",
        ),
        _leaf(
            "E3",
            "E",
            "Per-capita disposable income",
            6,
            {"method": "rank", "floor_share": 0.6},
            authoritative,
            unit="CNY",
        ),
        _leaf(
            "E4",
            "E",
            "Business environment evaluation",
            6,
            {
                "method": "grade",
                "scale": "ABCD",
                "shares": {"A": 1, "B": 0.85, "C": 0.7, "D": 0.5},
                "min_raters": 3,
            },
            ["experts"],
            kind="qualitative",
        ),
        {"code": "S", "name": "Social development", "weight": 35, "category": "social"},
        _leaf(
            "S1", "S", "New urban jobs", 10, {"method": "target_ratio", "cap": 1.1}, authoritative, unit="thousand jobs"
        ),
        _leaf(
            "S2",
            "S",
            "Days of good air quality",
            10,
            {
                "method": "bands",
                "bands": [
                    {"threshold": 250, "share": 0.6},
                    {"threshold": 300, "share": 0.85},
                    {"threshold": 330, "share": 1},
                ],
            },
            authoritative,
            unit="days",
        ),
        _leaf(
            "S3",
            "S",
            "12345 hotline cases closed on time",
            15,
            {"method": "linear", "floor": 80, "cap": 1},
            ["performance_office"],
            unit="%",
        ),
        {"code": "M", "name": "Public satisfaction", "weight": 20, "category": "public_satisfaction"},
        _leaf(
            "M1",
            "M",
            "Satisfaction with public services",
            20,
            {"method": "satisfaction", "zero_index": 50, "full_index": 90},
            ["public"],
            kind="satisfaction",
            unit="index 0-100",
        ),
        {"code": "G", "name": "Government self-building", "weight": 15, "category": "government_self_building"},
        _leaf(
            "G1",
            "G",
            "Audit findings rectified on time",
            15,
            {"method": "target_ratio", "cap": 1},
            ["authoritative_source", "performance_office"],
            unit="%",
        ),
        {
            "code": "X1",
            "name": "National or provincial commendations",
            "weight": 0,
            "category": "government_self_building",
            "kind": "bonus",
            "scoring": {"method": "bonus", "per_item": 0.5, "cap": 2},
            "evaluation_subjects": ["performance_office"],
        },
        {
            "code": "X2",
            "name": "Verified major public complaints",
            "weight": 0,
            "category": "government_self_building",
            "kind": "deduction",
            "scoring": {"method": "deduction", "per_item": 1, "cap": 5},
            "evaluation_subjects": ["performance_office"],
        },
        {
            "code": "X3",
            "name": "One-vote veto events",
            "weight": 0,
            "category": "government_self_building",
            "kind": "veto",
            "scoring": {
                "method": "veto",
                "events": ["production_safety.major_accident", "statistics.falsification"],
                "cap_grade": "C",
            },
            "evaluation_subjects": ["performance_office"],
        },
    ]
    return {
        "format": "govperf.framework/v1",
        "framework": {
            "code": f"{province.upper()}-CITY-2026",
            "name": "Jinzhou City comprehensive performance appraisal 2026",
            "description": "The demo year's framework: counties appraised by the city.",
            "total_points": 100,
        },
        "indicators": indicators,
    }


# Targets per leaf (the city's own, split equally or copied to counties) and what each county reports.
# Values are per county, in COUNTIES order; the planted outlier and the rejected value are named below.
CITY_TARGETS = {"E1": "6", "E2": "800", "S1": "80", "S3": "95", "G1": "95"}
CASCADE_MODE = {"E1": "copy", "E2": "equal", "S1": "equal", "S3": "copy", "G1": "copy"}
VALUES: dict[str, tuple[str, ...]] = {
    "E1": ("6.5", "5.8", "6.1", "5.0", "6.3", "5.5", "7.0", "4.7"),
    "E2": ("110", "95", "102", "75", "100", "88", "120", "70"),
    "E3": ("41000", "38500", "39900", "33000", "40200", "36000", "43000", "32000"),
    "S1": ("11", "9.8", "10.5", "8", "10", "9.5", "12", "7.5"),
    "S2": ("335", "310", "320", "270", "305", "295", "340", "260"),
    "S3": ("98", "94", "97", "88", "96", "92", "99", "86"),
    "G1": ("97", "92", "96", "80", "95", "88", "99", "78"),
    "X1": ("1", "0", "1", "0", "1", "0", "2", "0"),
    "X2": ("0", "1", "0", "1", "0", "1", "0", "2"),
}
OUTLIER = ("c7", "E2", "1200")  # a decimal point slipped: flagged against its peers, then corrected
REJECTED = ("c2", "S1", "19.8")  # the verifier rejects it (the labour bureau counts 9.8); resubmitted
EXPERT_GRADES = ("A", "B", "B", "C", "A", "B", "A", "D")  # E4 per county, the median rater's view
CITY_EXPERT_GRADE = "B"
GRADE_SCALE = ("A", "B", "C", "D")


def expert_grade(base: str, expert: int) -> str:
    """The panel scatters around the median view: the first expert a grade kinder, the last a grade
    sterner (within the scale), the others agree with it."""
    i = GRADE_SCALE.index(base)
    if expert == 1:
        i = max(0, i - 1)
    elif expert == 3:
        i = min(len(GRADE_SCALE) - 1, i + 1)
    return GRADE_SCALE[i]


VETO = ("c5", "production_safety.major_accident")

SATISFACTION_DIMENSION = "public_services"
SATISFACTION_LEAF = "M1"
GRADE_LEAF = "E4"


def questionnaire_content() -> dict[str, Any]:
    return {
        "title": "Jinzhou public satisfaction survey 2026",
        "description": "How satisfied are you with the public services of your county government?",
        "questions": [
            {
                "name": "q_edu",
                "type": "likert",
                "label": "Schools and kindergartens",
                "required": True,
                "dimension": SATISFACTION_DIMENSION,
                "indicator_code": "M1",
                "grid": "services",
            },
            {
                "name": "q_health",
                "type": "likert",
                "label": "Clinics and hospitals",
                "required": True,
                "dimension": SATISFACTION_DIMENSION,
                "indicator_code": "M1",
                "grid": "services",
            },
            {
                "name": "q_admin",
                "type": "likert",
                "label": "Administrative services (permits, certificates)",
                "required": True,
                "dimension": SATISFACTION_DIMENSION,
                "indicator_code": "M1",
                "grid": "services",
            },
            {
                "name": "q_env",
                "type": "likert",
                "label": "Parks, streets and the environment",
                "required": True,
                "dimension": SATISFACTION_DIMENSION,
                "indicator_code": "M1",
                "grid": "services",
            },
            {
                "name": "q_safety",
                "type": "likert",
                "label": "Public safety",
                "required": True,
                "dimension": SATISFACTION_DIMENSION,
                "indicator_code": "M1",
                "grid": "services",
            },
            {"name": "comment", "type": "text", "label": "Anything else you want the government to know?"},
        ],
    }


# The mean Likert answer per county (1-5): the index follows it, so county 4 and 8 fall short.
SATISFACTION_MEANS = (4.3, 4.0, 4.1, 3.1, 4.2, 3.9, 4.5, 3.3)


def SATISFACTION_MEANS_BY_PATH(province: str) -> dict[str, float]:
    city = f"/{province}/{CITY}"
    means = {f"{city}/{code}": m for (code, _), m in zip(COUNTIES, SATISFACTION_MEANS, strict=True)}
    means[city] = sum(SATISFACTION_MEANS) / len(SATISFACTION_MEANS)
    return means


RESPONDENT_GROUPS = (("urban_residents", 0.7), ("enterprises", 0.3))


# The objection period: one county's objection is upheld (its audit figure was incomplete: a new,
# verified value and a rescore), another's dismissed (the monitoring network's data stand).
UPHELD = ("c4", "G1", "95", "The audit bureau closed twelve more findings in December; the on-time rate is 95, not 80.")
DISMISSED = ("c6", "S2", "Dust blown in from outside the county should not count against its air quality days.")
# The improvement loop: what opens cases, the county counseled, and the decisions taken.
CASE_POLICY = {"min_attainment": "0.5", "min_satisfaction": "65", "grade_cutoff": "C"}
COUNSELED = "c8"
DECISIONS: tuple[tuple[str, str, str, str | None], ...] = (
    # (county, kind, summary, amount); finance records bonuses, supervision talks and accountability.
    ("c7", "performance_bonus", "Annual performance bonus for grade A.", "12000.00"),
    ("c1", "performance_bonus", "Annual performance bonus for grade A.", "12000.00"),
    ("c7", "commendation", "Commended by the city government for the best result of the year.", None),
    ("c8", "admonishment_talk", "Admonishment talk with the county head on the low grade.", None),
    ("c5", "accountability", "Accountability for the production safety accident (veto).", None),
    ("c4", "training", "Training of the county's statistics staff after the corrected audit figure.", None),
)
