"""A whole appraisal year through the gateway alone, on all five services as real processes.

The year is the demo's own code (`shared.demo`), run with smaller sizes; this test checks each
hand-off as a user sees it through the gateway: framework -> plan, data -> verification (the
planted outlier flagged, one value rejected), survey -> satisfaction values, and on through
scores, publication, cases, tasks, escalation, decisions and the usage report, as far as the
platform provides those routes. A second run must change nothing."""

from __future__ import annotations

import asyncio
import json
import secrets
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from shared.auth.devkeys import DevKeys, mint_dev_token
from shared.demo import content
from shared.demo.client import Actor
from shared.demo.year import Quiet, Sizes, YearState, run_year
from shared.embedded import find_free_port, start_nats
from shared.migrations import upgrade
from shared.stack import SERVICES, get_service
from shared.testing.plugin import Infra
from shared.testing.processes import ServiceProcess, start_service

pytestmark = pytest.mark.slow
ROOT_UNIT = "00000000-0000-7000-8000-000000000000"
SIZES = Sizes(
    province=f"y{secrets.token_hex(3)}",
    survey_responses=360,
    speeders=18,
    duplicates=9,
    min_cell_size=5,
    concurrency=8,
    rating_window_seconds=45,
    objection_period_seconds=60,
)


@dataclass
class WholePlatform:
    gateway: ServiceProcess
    admin: Actor
    password_seed: str
    database_url: str


def _own_database(server_url: str) -> str:
    """A fresh database on the session's PostgreSQL server: the year's org tree, accounts and
    published framework must not leak into other suites (the gateway refuses unknown org units
    once any have arrived, and lists would show the year's rows)."""
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    name = f"govperf_year_{secrets.token_hex(4)}"

    async def create() -> None:
        conn = await asyncpg.connect(url.set(drivername="postgresql", database="postgres").render_as_string(False))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return url.set(database=name).render_as_string(hide_password=False)


def _drop_database(database_url: str) -> None:
    from sqlalchemy.engine import make_url

    url = make_url(database_url)

    async def drop() -> None:
        conn = await asyncpg.connect(url.set(drivername="postgresql", database="postgres").render_as_string(False))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


@pytest.fixture(scope="module")
def whole_platform(migrated: Infra, dev_keys: DevKeys) -> Iterator[WholePlatform]:
    """Every service of shared/stack.py on free ports, the gateway routing to them, on a database
    and a NATS server of their own (nothing of the year reaches other suites)."""
    database_url = _own_database(migrated.database_url)
    nats = start_nats(Path(tempfile.mkdtemp(prefix="gpy-", dir="/tmp")), port=find_free_port())
    for spec in SERVICES:
        upgrade(spec, database_url)
    ports = {spec.name: find_free_port() for spec in SERVICES}
    common = {
        "GOVPERF_ENV": "test",
        "GOVPERF_DATABASE_URL": database_url,
        "GOVPERF_NATS_URL": nats.url,
        "GOVPERF_DB_POOL_SIZE": "5",
        "GOVPERF_LOG_LEVEL": "WARNING",
    }
    upstreams = {name: f"http://127.0.0.1:{port}" for name, port in ports.items() if name != "gateway"}
    gateway_env = {
        **common,
        "GOVPERF_JWKS_FILE": str(dev_keys.jwks_path),
        "GOVPERF_UPSTREAMS": json.dumps(upstreams),
        "GOVPERF_UPSTREAM_TIMEOUT_SECONDS": "60",
        # The year's simulated public is one client address: the limits are the platform's, not the test's.
        "GOVPERF_RATE_LIMIT_PER_MINUTE": "100000",
        "GOVPERF_RATE_LIMIT_BURST": "10000",
        "GOVPERF_TOKEN_RATE_LIMIT_PER_MINUTE": "10000",
        "GOVPERF_ADMIN_PASSWORD": "e2e-" + secrets.token_urlsafe(16),
        "GOVPERF_PASSWORD_HASH_TIME_COST": "1",
        "GOVPERF_PASSWORD_HASH_MEMORY_KIB": "1024",
    }
    processes: list[ServiceProcess] = []
    try:
        gateway = start_service(get_service("gateway"), ports["gateway"], gateway_env, log_dir=migrated.data_dir)
        processes.append(gateway)
        gateway.wait_ready()
        service_env = {
            **common,
            "GOVPERF_JWKS_URL": f"{gateway.url}/.well-known/jwks.json",
            "GOVPERF_APPRAISAL_URL": upstreams["appraisal"],
        }
        for spec in SERVICES:
            if spec.name != "gateway":
                processes.append(start_service(spec, ports[spec.name], service_env, log_dir=migrated.data_dir))
        for process in processes:
            process.wait_ready()
        # The admin of another suite's gateway may own the account "admin": this year's admin is a
        # development-key token (accepted outside production), which the demo uses like any token.
        token = mint_dev_token(
            dev_keys, subject="e2e-year-admin", roles=["admin"], org_unit_id=ROOT_UNIT, org_path="/", ttl_seconds=3600
        )
        admin = Actor("e2e-year-admin", "", token=token, expires_at=time.monotonic() + 3000)
        yield WholePlatform(
            gateway=gateway, admin=admin, password_seed=secrets.token_urlsafe(16), database_url=database_url
        )
    finally:
        for process in reversed(processes):
            process.stop()
        nats.stop()
        _drop_database(database_url)


async def run(platform: WholePlatform) -> tuple[YearState, Quiet]:
    report = Quiet()
    state = await run_year(
        platform.gateway.url, admin=platform.admin, password_seed=platform.password_seed, sizes=SIZES, report=report
    )
    return state, report


class As:
    """Reads through the gateway as one of the year's accounts."""

    def __init__(self, http: httpx.AsyncClient, platform: WholePlatform, username: str) -> None:
        self.http, self.base = http, platform.gateway.url
        self.username = f"{SIZES.province}-{username}"
        self.password = content.password_for(platform.password_seed, self.username)
        self.token = ""

    async def get(self, path: str, **params: Any) -> Any:
        if not self.token:
            signed = await self.http.post(
                f"{self.base}/oauth/token",
                data={"grant_type": "password", "username": self.username, "password": self.password},
            )
            assert signed.status_code == 200, signed.text
            self.token = signed.json()["access_token"]
        response = await self.http.get(
            f"{self.base}{path}", params=params, headers={"Authorization": f"Bearer {self.token}"}
        )
        assert response.status_code == 200, f"{path}: {response.text}"
        return response.json()


async def test_a_whole_year_through_the_gateway(whole_platform: WholePlatform) -> None:
    state, report = await run(whole_platform)
    city = f"/{SIZES.province}/{content.CITY}"
    async with httpx.AsyncClient(timeout=60) as http:
        office = As(http, whole_platform, "office")
        audit = As(http, whole_platform, "audit")
        clerk = As(http, whole_platform, "c1-clerk")

        # Framework -> plan: the plan is bound to the published city framework, with its special leaves.
        plan = await office.get(f"/api/v1/appraisal/plans/{state.plan_id}")
        assert plan["framework_id"] == state.framework_id
        leaves = {
            leaf["indicator_code"]: leaf for leaf in await office.get(f"/api/v1/appraisal/plans/{state.plan_id}/leaves")
        }
        assert {leaves[c]["method"] for c in ("M1", "E4", "X3")} == {"satisfaction", "grade", "veto"}
        assert plan["object_count"] == 1 + len(content.COUNTIES)
        # A county's clerk sees its own targets only: cascaded from the city and approved.
        own = await clerk.get(f"/api/v1/appraisal/plans/{state.plan_id}/targets", limit=500)
        assert {t["object_id"] for t in own["items"]} == {state.objects[f"{city}/c1"]}
        assert {t["status"] for t in own["items"]} == {"approved"}
        assert {t["indicator_code"] for t in own["items"]} == set(content.CITY_TARGETS)

        # Data -> verification: the outlier was flagged by the peer rule and replaced by its correction,
        # the rejected value keeps its reason, and every current value is accepted.
        assert state.flagged_point_ids, report.lines
        flagged = await audit.get(f"/api/v1/appraisal/data-points/{state.flagged_point_ids[0]}")
        assert Decimal(flagged["value"]) == Decimal(content.OUTLIER[2])
        assert [f["rule"] for f in flagged["flags"]] == ["robust_z"]
        assert not flagged["current"] and flagged["revisions"][-1]["value"] != flagged["value"]
        rejected = await audit.get(f"/api/v1/appraisal/data-points/{state.rejected_point_ids[0]}")
        assert rejected["status"] == "rejected" and "9.8" in rejected["reject_reason"]
        collection = await office.get(f"/api/v1/appraisal/plans/{state.plan_id}/collection")
        # Every value a leaf expects is accepted: the counties' own and the survey's satisfaction index.
        assert {(row["accepted"], row["missing"]) for row in collection["items"]} == {(len(content.VALUES) + 1, 0)}

        # Survey: speeders, repeated devices and replayed tokens are what the analysis and intake saw.
        analysis = await office.get(f"/api/v1/survey/campaigns/{state.campaign_id}/analyses/latest")
        assert analysis["results"]["flagged"]["speeding"] == SIZES.speeders
        assert analysis["results"]["flagged"]["duplicate_device"] == SIZES.duplicates
        assert state.survey_posted == SIZES.survey_responses and state.survey_refused == 5
        public_report = await http.get(
            f"{whole_platform.gateway.url}/public/surveys/campaigns/{state.campaign_id}/report"
        )
        assert public_report.status_code == 200 and "Jinzhou" in public_report.text

        # Survey -> satisfaction values: the indices are accepted survey data of leaf M1, per object,
        # and follow what the simulated public said (Heshui the happiest, Dongshan the least).
        points = await office.get("/api/v1/appraisal/data-points", metric="M1", period="2026", limit=500)
        survey_values = {p["object_id"]: Decimal(p["value"]) for p in points["items"] if p["source"] == "survey"}
        assert set(survey_values) == set(state.objects.values())
        assert survey_values[state.objects[f"{city}/c7"]] > survey_values[state.objects[f"{city}/c4"]]

        # Scores: the experts' grades and the survey's index are in the explain tree, the veto caps a grade.
        table = await office.get(f"/api/v1/appraisal/plans/{state.plan_id}/results", limit=500)
        rows = {row["object_id"]: row for row in table["items"]}
        vetoed = rows[state.objects[f"{city}/{content.VETO[0]}"]]
        assert vetoed["veto_cap"] == "C" and vetoed["grade"] == "C" and vetoed["grade_by_score"] in ("A", "B")
        explained = await office.get(f"/api/v1/appraisal/plans/{state.plan_id}/results/{state.objects[f'{city}/c4']}")
        leaves = {leaf["indicator_code"]: leaf for subject in explained["subjects"] for leaf in subject["leaves"]}
        assert Decimal(leaves["M1"]["value"]) == survey_values[state.objects[f"{city}/c4"]]
        assert not leaves["E4"]["missing"] and Decimal(leaves["E4"]["share"]) > 0

        if state.missing:
            # The platform lacks a part-2 route: the year stops after scoring and says which.
            assert "objections" in state.missing, report.lines
        else:
            await after_the_objection_period(http, whole_platform, state, report)

    # A second run changes nothing: the same ids, no new revisions, no new responses.
    again, again_report = await run(whole_platform)
    assert (again.plan_id, again.campaign_id, again.framework_id) == (
        state.plan_id,
        state.campaign_id,
        state.framework_id,
    )
    assert again.objects == state.objects and again.units == state.units
    assert again.survey_posted == 0
    assert any("0 new" in line for line in again_report.lines)


async def after_the_objection_period(
    http: httpx.AsyncClient, platform: WholePlatform, state: YearState, report: Quiet
) -> None:
    """Objections, publication and the improvement loop, checked hand-off by hand-off."""
    city = f"/{SIZES.province}/{content.CITY}"
    office = As(http, platform, "office")
    supervision = As(http, platform, "supervision")
    # Both objections were ruled in the period, the upheld one rescored.
    objections = await office.get(f"/api/v1/appraisal/plans/{state.plan_id}/objections", limit=500)
    ruled = {o["object_id"]: o for o in objections["items"]}
    assert ruled[state.objects[f"{city}/{content.UPHELD[0]}"]]["status"] == "upheld"
    assert ruled[state.objects[f"{city}/{content.DISMISSED[0]}"]]["status"] == "dismissed"
    assert state.result_version == 2  # the upheld objection's rescore
    assert not state.missing, report.lines

    # Publication: the corrected version (2) is the published one, public without a token.
    plan = await office.get(f"/api/v1/appraisal/plans/{state.plan_id}")
    runs = await office.get(f"/api/v1/appraisal/plans/{state.plan_id}/scoring-runs", limit=500)
    assert plan["status"] == "published" and state.published and state.public_results
    assert plan["published_run_id"] == next(r["id"] for r in runs["items"] if r["version"] == 2)
    # ... through one publication job, which the demo followed to its end.
    [job] = (await office.get(f"/api/v1/appraisal/plans/{state.plan_id}/publications", limit=500))["items"]
    assert (job["status"], job["mode"], job["result_version"]) == ("succeeded", "publish", 2)
    assert job["run_id"] == plan["published_run_id"] and job["event_id"] is not None
    league = await http.get(f"{platform.gateway.url}/public/plans/{state.plan_id}/results", params={"limit": 500})
    assert league.status_code == 200, league.text
    corrected = next(
        r for r in league.json()["items"] if r["object_id"] == state.objects[f"{city}/{content.UPHELD[0]}"]
    )
    version_one = await office.get(f"/api/v1/appraisal/plans/{state.plan_id}/results", version=1, limit=500)
    before = next(r for r in version_one["items"] if r["object_id"] == corrected["object_id"])
    assert Decimal(str(corrected["composite"])) > Decimal(str(before["composite"]))  # the upheld correction counts
    # Cases: opened from appraisal.results.published, with recommendations in plain sentences.
    cases = await office.get("/api/v1/feedback/cases", plan_id=state.plan_id, limit=500)
    by_object = {c["object_id"]: c for c in cases["items"]}
    counseled = by_object[state.objects[f"{city}/{content.COUNSELED}"]]
    assert counseled["result_version"] == 2 and counseled["recommendations"]
    assert state.objects[f"{city}/c7"] not in by_object  # the best county has nothing to improve
    # Tasks -> escalation: the overdue one was swept and the case sits on supervision's worklist.
    tasks = await office.get("/api/v1/feedback/tasks", case_ids=counseled["id"], limit=500)
    statuses = sorted((t["status"], t["overdue_at"] is not None) for t in tasks["items"])
    assert ("verified", False) in statuses and any(overdue for _, overdue in statuses)
    worklist = await supervision.get("/api/v1/feedback/escalations")
    assert counseled["id"] in {c["id"] for c in worklist["cases"]}
    # Decisions -> usage report (public): the share of published results followed by a decision.
    decisions = await office.get("/api/v1/feedback/decisions", plan_id=state.plan_id, limit=500)
    assert {(d["kind"], d["decided_as"]) for d in decisions["items"]} >= {
        ("performance_bonus", "finance"),
        ("accountability", "supervision"),
    }
    usage = await http.get(f"{platform.gateway.url}/public/feedback/usage-report", params={"cycle_id": state.cycle_id})
    assert usage.status_code == 200, usage.text
    overall = usage.json()["overall"]
    assert overall["published"] == len(state.objects)
    assert overall["followed"] == len({d["object_id"] for d in decisions["items"]})
    # The joint meeting's resolution became a tracked task of the county.
    meeting_tasks = await office.get("/api/v1/feedback/tasks", meeting_id=state.meeting_id, limit=500)
    assert [t["owner_org_path"] for t in meeting_tasks["items"]] == [f"{city}/{content.COUNSELED}"]
