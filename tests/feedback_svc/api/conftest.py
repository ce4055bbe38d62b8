"""Fixtures of the HTTP-level tests of feedback_svc: published results seeded through the real
consumer handler in the test's (rolled back) transaction."""

import uuid
from dataclasses import dataclass

import pytest

from contracts.appraisal_results import APPRAISAL_RESULTS_PUBLISHED
from services.feedback_svc.case.intake import apply_results_published
from shared.events import make_event
from tests.feedback_svc.support import CITY, results, three_counties

FUTIAN = f"{CITY}/futian"


@dataclass
class Seeded:
    plan_id: uuid.UUID
    cycle_id: uuid.UUID
    futian_id: uuid.UUID
    luohu_id: uuid.UUID
    case_id: str


@pytest.fixture
def office(auth):
    return auth("perf_office", org_path=CITY)


@pytest.fixture
def futian(auth):
    return auth("department", org_path=FUTIAN, subject="futian-staff")


@pytest.fixture
async def seeded(db, client, office) -> Seeded:
    payload = results(three_counties())
    await apply_results_published(
        db, make_event(APPRAISAL_RESULTS_PUBLISHED, payload, source="govperf/appraisal", subject=str(payload.plan_id))
    )
    await db.flush()
    cases = (await client.get("/api/v1/cases", params={"plan_id": str(payload.plan_id)}, headers=office)).json()
    return Seeded(
        plan_id=payload.plan_id,
        cycle_id=payload.cycle_id,
        futian_id=payload.objects[0].object_id,
        luohu_id=payload.objects[1].object_id,
        case_id=cases["items"][0]["id"],
    )


def session_body(*deadlines: str, owner: str = FUTIAN) -> dict:
    return {
        "held_on": "2027-02-10",
        "participants": ["city office", "Futian government"],
        "findings": "GDP growth and satisfaction fell short.",
        "agreed_actions": [
            {"title": f"Action {i}", "owner_unit_id": str(uuid.uuid4()), "owner_org_path": owner, "deadline": d}
            for i, d in enumerate(deadlines)
        ],
    }
