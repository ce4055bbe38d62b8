"""A whole appraisal year driven through the gateway, step by step, idempotently.

Each step first reads what exists (by natural keys: org paths, usernames, codes, names) and only
then creates or moves what is missing, so a second run changes nothing. `run_year` is the library
entry point that `govperf demo` and the end-to-end test share; sizes come in as `Sizes`."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

import httpx

from shared.demo import content
from shared.demo.client import Actor, ApiError, Gateway

APPRAISAL = "/api/v1/appraisal"
INDICATOR = "/api/v1/indicator"
SURVEY = "/api/v1/survey"
FEEDBACK = "/api/v1/feedback"
# How long a step waits for an event to cross services (framework publication, survey results).
EVENT_WAIT_SECONDS = 60.0
GATEWAY_PUBLIC_RESPONSES = "/public/surveys/responses"


def answers(rng: random.Random, mean: float) -> dict[str, Any]:
    """Likert answers scattered around the county's mean satisfaction."""
    return {
        q["name"]: min(5, max(1, round(rng.gauss(mean, 0.8))))
        for q in content.questionnaire_content()["questions"]
        if q["type"] == "likert"
    }


class Reporter(Protocol):
    """Where progress goes: a line per step, and counts for long ones."""

    def step(self, title: str) -> None: ...

    def count(self, done: int, total: int) -> None: ...

    def note(self, text: str) -> None: ...


class Quiet:
    """A reporter that keeps the lines (tests read them) and prints nothing."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def step(self, title: str) -> None:
        self.lines.append(title)

    def count(self, done: int, total: int) -> None:
        return None

    def note(self, text: str) -> None:
        self.lines.append(text)


class NotAvailable(RuntimeError):
    """The platform lacks a route the year needs next: the demo stops there and names it."""


@dataclass(frozen=True)
class Sizes:
    province: str = "hx"
    survey_responses: int = 3000
    speeders: int = 120
    duplicates: int = 60
    experts: int = 3
    min_cell_size: int = 30
    concurrency: int = 16
    # The experts' rating window, from the plan's creation: the ratings come right after the targets,
    # and scoring waits until it has closed (ratings stay sealed until then).
    rating_window_seconds: int = 150
    # The objection period, from the review: long enough to file and rule the year's two objections
    # and rescore; publication then waits for its end.
    objection_period_seconds: int = 120


@dataclass
class YearState:
    """What the year made, by id: the test checks each hand-off against it."""

    units: dict[str, str] = field(default_factory=dict)  # org path -> unit id
    objects: dict[str, str] = field(default_factory=dict)  # org path -> appraisal object id
    framework_id: str = ""
    cycle_id: str = ""
    plan_id: str = ""
    flagged_point_ids: list[str] = field(default_factory=list)
    rejected_point_ids: list[str] = field(default_factory=list)
    campaign_id: str = ""
    survey_posted: int = 0
    survey_refused: int = 0
    published: bool = False
    public_results: bool = False
    cases_opened: int = 0
    decisions: int = 0
    meeting_id: str = ""
    reached: str = ""  # the last step done
    missing: str = ""  # what stopped the year early, if anything
    passwords: dict[str, str] = field(default_factory=dict)
    satisfaction: dict[str, str] = field(default_factory=dict)  # object id -> M1 index
    result_version: int = 0
    counseled_case_id: str = ""
    escalated: bool = False
    usage: dict[str, Any] = field(default_factory=dict)


class Year:
    """The year's steps (`steps()`, in order), as the admin and the accounts it creates."""

    def __init__(self, gateway: Gateway, *, admin: Actor, password_seed: str, sizes: Sizes, report: Reporter) -> None:
        self.gw = gateway
        self.sizes = sizes
        self.report = report
        self.admin = admin
        self.state = YearState()
        self.people = content.people(sizes.province, experts=sizes.experts)
        self.actors = {
            p.username: Actor(p.username, content.password_for(password_seed, p.username)) for p in self.people
        }
        self.city_path = f"/{sizes.province}/{content.CITY}"
        self.routes: set[str] | None = None

    # ------------------------------------------------------------------ who is who

    def actor(self, role_suffix: str) -> Actor:
        return self.actors[f"{self.sizes.province}-{role_suffix}"]

    @property
    def office(self) -> Actor:
        return self.actor("office")

    def clerk(self, county: str) -> Actor:
        return self.actor(f"{county}-clerk")

    def county_paths(self) -> list[str]:
        return [f"{self.city_path}/{code}" for code, _ in content.COUNTIES]

    def object_paths(self) -> list[str]:
        """The plan's objects: the city (whose targets cascade) and its counties."""
        return [self.city_path, *self.county_paths()]

    # ------------------------------------------------------------------ steps

    async def org_tree(self) -> None:
        self.report.step("Org tree: a province, its city, eight counties and their departments")
        rows = content.org_rows(self.sizes.province)
        existing = await self.gw.all_items(f"{APPRAISAL}/org-units", self.admin, {"under": f"/{self.sizes.province}"})
        known = {u["org_path"]: u["id"] for u in existing}
        missing = [r for r in rows if r["org_path"] not in known]
        if missing:
            out = io.StringIO()
            writer = csv.DictWriter(out, fieldnames=["org_path", "name", "kind", "peer_group"])
            writer.writeheader()
            writer.writerows(missing)
            await self.gw.post(
                f"{APPRAISAL}/org-units/import",
                self.admin,
                content=out.getvalue().encode(),
                headers={"Content-Type": "text/csv"},
            )
            existing = await self.gw.all_items(
                f"{APPRAISAL}/org-units", self.admin, {"under": f"/{self.sizes.province}"}
            )
            known = {u["org_path"]: u["id"] for u in existing}
        self.state.units = {r["org_path"]: known[r["org_path"]] for r in rows}
        self.report.note(f"{len(rows)} units ({len(missing)} new)")

    async def accounts(self) -> None:
        self.report.step("People: an account for every role (passwords below)")
        existing = await self.gw.all_items("/api/v1/admin/users", self.admin, {"org_path": f"/{self.sizes.province}"})
        known = {u["username"] for u in existing}
        made = 0
        for person in self.people:
            self.state.passwords[person.username] = self.actors[person.username].password
            if person.username in known:
                continue
            body = {
                "username": person.username,
                "display_name": person.display_name,
                "password": self.actors[person.username].password,
                "roles": list(person.roles),
                "org_unit_id": self.state.units[person.org_path],
                "org_path": person.org_path,
            }
            # The gateway learns new org units by event (appraisal.orgunit.changed): until this
            # one has arrived, it refuses the account as naming an unknown unit.
            await self.wait_for(
                lambda b=body: self.gw.call("POST", "/api/v1/admin/users", self.admin, json=b, expect=(201, 422)),  # type: ignore[misc]
                lambda r: r.status_code == 201 or "org_unit_unknown" not in r.text,
                "the org tree to reach the gateway",
                raise_on=lambda r: r.status_code != 201,
            )
            made += 1
        self.report.note(f"{len(self.people)} accounts ({made} new)")

    async def objects(self) -> None:
        self.report.step("Appraisal objects: the city government and the eight county governments")
        unit_ids = [self.state.units[p] for p in self.object_paths()]
        found = await self.gw.all_items(
            f"{APPRAISAL}/objects", self.office, {"org_unit_ids": ",".join(unit_ids), "kind": "government"}
        )
        by_unit = {o["org_unit_id"]: o["id"] for o in found}
        for path, unit_id in zip(self.object_paths(), unit_ids, strict=True):
            if unit_id not in by_unit:
                made = await self.gw.post(
                    f"{APPRAISAL}/objects", self.office, json={"kind": "government", "org_unit_id": unit_id}
                )
                by_unit[unit_id] = made["id"]
            self.state.objects[path] = by_unit[unit_id]

    async def framework(self) -> None:
        self.report.step("Indicator framework: the city's, imported and published (indicator_svc)")
        document = content.framework_document(self.sizes.province)
        code = document["framework"]["code"]
        found = await self.gw.all_items(f"{INDICATOR}/frameworks", self.office, {"code": code})
        framework = next((f for f in found if f["status"] == "published"), None) or (found[0] if found else None)
        if framework is None:
            framework = await self.gw.post(
                f"{INDICATOR}/frameworks/import",
                self.office,
                params={"format": "json", "org_unit_id": self.state.units[self.city_path], "org_path": self.city_path},
                json=document,
            )
        framework_id = framework["id"]
        if framework["status"] != "published":
            etag = await self.gw.etag(f"{INDICATOR}/frameworks/{framework_id}", self.office)
            await self.gw.post(
                f"{INDICATOR}/frameworks/{framework_id}/publish", self.office, headers={"If-Match": etag}
            )
        self.state.framework_id = framework_id
        # Appraisal learns of it by event (indicator.framework.published): wait until a plan can bind it.
        await self.wait_for(
            lambda: self.gw.call(
                "GET", f"{APPRAISAL}/framework-versions/{framework_id}", self.office, expect=(200, 404)
            ),
            lambda r: r.status_code == 200,
            "the framework's publication to reach appraisal_svc",
        )

    async def plan(self) -> None:
        self.report.step("Cycle 2026 and the city's appraisal plan")
        cycles = await self.gw.all_items(f"{APPRAISAL}/cycles", self.office, {"kind": "annual"})
        cycle = next((c for c in cycles if c["label"] == content.CYCLE_LABEL and c["org_path"] == self.city_path), None)
        if cycle is None:
            cycle = await self.gw.post(
                f"{APPRAISAL}/cycles",
                self.office,
                json={
                    "kind": "annual",
                    "label": content.CYCLE_LABEL,
                    "starts_on": "2026-01-01",
                    "ends_on": "2026-12-31",
                    "org_path": self.city_path,
                },
            )
        self.state.cycle_id = cycle["id"]
        name = f"Jinzhou City appraisal {content.CYCLE_LABEL}"
        plans = await self.gw.all_items(f"{APPRAISAL}/plans", self.office)
        plan = next((p for p in plans if p["name"] == name and p["cycle_id"] == cycle["id"]), None)
        if plan is None:
            objects = [{"object_id": self.state.objects[self.city_path], "peer_group": "city"}] + [
                {"object_id": self.state.objects[p], "peer_group": "county"} for p in self.county_paths()
            ]
            plan = await self.gw.post(
                f"{APPRAISAL}/plans",
                self.office,
                headers={"Idempotency-Key": f"demo-plan-{self.sizes.province}-{content.CYCLE_LABEL}"},
                json={
                    "name": name,
                    "cycle_id": cycle["id"],
                    "framework_id": self.state.framework_id,
                    "owner_unit_id": self.state.units[self.city_path],
                    "objects": objects,
                    "subject_weights": content.SUBJECT_WEIGHTS,
                    "grade_scheme": {
                        "grades": [{"grade": g, "min_score": s} for g, s in content.GRADES],
                        "top_grade_quota": "0.3",
                    },
                    "missing_rule": "zero",
                    "rating_closes_at": (
                        dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.sizes.rating_window_seconds)
                    ).isoformat(),
                    "objection_period": f"PT{self.sizes.objection_period_seconds}S",
                    "submission_deadline": "2027-01-31T00:00:00Z",
                    "verification_deadline": "2027-02-28T00:00:00Z",
                },
            )
        self.state.plan_id = plan["id"]
        self.report.note(f"plan {plan['id']} is {plan['status']}")

    async def plan_status(self) -> str:
        plan = await self.gw.get(f"{APPRAISAL}/plans/{self.state.plan_id}", self.office)
        return str(plan["status"])

    async def move_plan(self, to: str, reason: str | None = None) -> None:
        path = f"{APPRAISAL}/plans/{self.state.plan_id}"
        body: dict[str, Any] = {"to": to} if reason is None else {"to": to, "reason": reason}
        etag = await self.gw.etag(path, self.office)
        try:
            await self.gw.post(f"{path}/transitions", self.office, json=body, headers={"If-Match": etag})
        except ApiError as exc:
            # A platform without the part-2 guards takes no reason (and forbids unknown fields).
            if reason is None or exc.status != 422 or "reason" not in str(exc):
                raise
            await self.gw.post(f"{path}/transitions", self.office, json={"to": to}, headers={"If-Match": etag})

    async def targets(self) -> None:
        self.report.step("Targets: set for the city, cascaded to the counties, confirmed and approved")
        if await self.plan_status() == "draft":
            await self.move_plan("targets_open")
        if await self.plan_status() != "targets_open":
            self.report.note("targets were approved before")
            return
        plan_path = f"{APPRAISAL}/plans/{self.state.plan_id}"
        city_object = self.state.objects[self.city_path]
        existing = await self.gw.all_items(f"{plan_path}/targets", self.office)
        have = {(t["object_id"], t["indicator_code"]) for t in existing}
        children = [{"object_id": self.state.objects[p]} for p in self.county_paths()]
        for code, target in content.CITY_TARGETS.items():
            if (city_object, code) not in have:
                await self.gw.post(
                    f"{plan_path}/targets",
                    self.office,
                    json={"object_id": city_object, "indicator_code": code, "target": target},
                )
            if any((c["object_id"], code) not in have for c in children):
                await self.gw.post(
                    f"{plan_path}/targets/cascade",
                    self.office,
                    json={
                        "from_object_id": city_object,
                        "indicator_code": code,
                        "mode": content.CASCADE_MODE[code],
                        "children": children,
                    },
                )
        targets = await self.gw.all_items(f"{plan_path}/targets", self.office)
        for path in self.object_paths():
            mine = [t["id"] for t in targets if t["object_id"] == self.state.objects[path] and t["status"] == "set"]
            if mine:
                await self.gw.post(f"{plan_path}/targets/confirmations", self.confirmer(path), json={"ids": mine})
        targets = await self.gw.all_items(f"{plan_path}/targets", self.office)
        confirmed = [t["id"] for t in targets if t["status"] == "confirmed"]
        if confirmed:
            await self.gw.post(f"{plan_path}/targets/approvals", self.office, json={"ids": confirmed})
        await self.move_plan("collecting")
        self.report.note(f"{len(targets)} targets approved; the plan is collecting")

    def confirmer(self, path: str) -> Actor:
        return self.actor("city-clerk") if path == self.city_path else self.clerk(path.rsplit("/", 1)[1])

    def steps(self) -> list[Callable[[], Awaitable[None]]]:
        return [
            self.org_tree,
            self.accounts,
            self.objects,
            self.framework,
            self.plan,
            self.targets,
            self.experts,
            self.data,
            self.veto,
            self.survey,
            self.satisfaction,
            self.scoring,
            self.review,
            self.objections,
            self.publication,
            self.cases,
            self.counseling,
            self.tasks,
            self.decisions,
            self.meeting,
        ]

    def values_of(self, path: str) -> dict[str, str]:
        """What an object reports: a county its own figures, the city the sum or mean of them."""
        if path != self.city_path:
            i = self.county_paths().index(path)
            return {metric: values[i] for metric, values in content.VALUES.items()}
        out = {}
        for metric, values in content.VALUES.items():
            numbers = [Decimal(v) for v in values]
            total = sum(numbers, Decimal(0))
            additive = metric in ("E2", "S1", "X1", "X2")
            out[metric] = str(total if additive else (total / len(numbers)).quantize(Decimal("0.01")))
        return out

    async def current_points(self) -> dict[tuple[str, str], dict[str, Any]]:
        points = await self.gw.all_items(f"{APPRAISAL}/data-points", self.office, {"period": content.CYCLE_LABEL})
        mine = set(self.state.objects.values())
        return {(p["object_id"], p["metric"]): p for p in points if p["object_id"] in mine}

    async def data(self) -> None:
        self.report.step("Data: the counties report; a planted outlier is flagged, one value rejected")
        if await self.plan_status() != "collecting":
            self.report.note("collection is over")
            return
        current = await self.current_points()
        outlier_path = f"{self.city_path}/{content.OUTLIER[0]}"
        rejected_path = f"{self.city_path}/{content.REJECTED[0]}"
        for path in self.object_paths():
            object_id = self.state.objects[path]
            values = self.values_of(path)
            if path == outlier_path:
                values[content.OUTLIER[1]] = content.OUTLIER[2]
            if path == rejected_path:
                values[content.REJECTED[1]] = content.REJECTED[2]
            rows = [(m, v) for m, v in values.items() if (object_id, m) not in current]
            if not rows:
                continue
            out = io.StringIO()
            out.write("object_id,metric,period,value\n")
            out.writelines(f"{object_id},{m},{content.CYCLE_LABEL},{v}\n" for m, v in rows)
            await self.gw.post(
                f"{APPRAISAL}/data-points/bulk",
                self.confirmer(path),
                content=out.getvalue().encode(),
                headers={"Content-Type": "text/csv"},
            )
        self.report.note("every object reported its values")
        # The audit office sees the planted outlier among the flagged values.
        flagged = await self.gw.all_items(f"{APPRAISAL}/data-points", self.actor("audit"), {"flagged": "true"})
        outlier_object = self.state.objects[outlier_path]
        self.state.flagged_point_ids = [
            p["id"] for p in flagged if p["object_id"] == outlier_object and p["metric"] == content.OUTLIER[1]
        ]
        for p in flagged:
            if p["object_id"] == outlier_object:
                rules = ", ".join(f["rule"] for f in p["flags"])
                self.report.note(f"flagged: {outlier_path} {p['metric']} = {p['value']} ({rules})")
        current = await self.current_points()
        outlier = current[(outlier_object, content.OUTLIER[1])]
        if Decimal(outlier["value"]) == Decimal(content.OUTLIER[2]) and outlier["status"] == "submitted":
            # The county finds the slipped decimal point and submits the corrected value.
            correct = self.values_of(outlier_path)[content.OUTLIER[1]]
            await self.gw.post(
                f"{APPRAISAL}/data-points",
                self.confirmer(outlier_path),
                json={
                    "object_id": outlier_object,
                    "metric": content.OUTLIER[1],
                    "period": content.CYCLE_LABEL,
                    "value": correct,
                    "notes": "corrected: a decimal point slipped",
                },
            )
        rejected_object = self.state.objects[rejected_path]
        point = current[(rejected_object, content.REJECTED[1])]
        if Decimal(point["value"]) == Decimal(content.REJECTED[2]) and point["status"] == "submitted":
            await self.point_transition(
                point, self.actor("verifier"), "rejected", reason="the labour bureau's register counts 9.8"
            )
            point = (await self.current_points())[(rejected_object, content.REJECTED[1])]
        if point["status"] == "rejected":
            self.state.rejected_point_ids.append(point["id"])
            self.report.note(f"rejected: {rejected_path} {content.REJECTED[1]} = {point['value']}, resubmitted")
            await self.gw.post(
                f"{APPRAISAL}/data-points",
                self.confirmer(rejected_path),
                json={
                    "object_id": rejected_object,
                    "metric": content.REJECTED[1],
                    "period": content.CYCLE_LABEL,
                    "value": self.values_of(rejected_path)[content.REJECTED[1]],
                },
            )
        await self.verify_and_accept()

    async def point_transition(self, point: dict[str, Any], actor: Actor, to: str, reason: str | None = None) -> None:
        body: dict[str, Any] = {"to": to} if reason is None else {"to": to, "reason": reason}
        await self.gw.post(
            f"{APPRAISAL}/data-points/{point['id']}/transitions",
            actor,
            json=body,
            headers={"If-Match": f'"{point["lock_version"]}"'},
        )

    async def verify_and_accept(self) -> None:
        """Every submitted value verified by the province's verifier, then accepted by the office."""
        city_object = self.state.objects[self.city_path]

        async def verify(point: dict[str, Any]) -> None:
            await self.point_transition(point, self.actor("verifier"), "verified")

        async def accept(point: dict[str, Any]) -> None:
            decider = self.actor("province-office") if point["object_id"] == city_object else self.office
            await self.point_transition(point, decider, "accepted")

        # Other values the anomaly rules questioned are checked by the office and the flag resolved with a note.
        open_flags = [
            (p, f) for p in (await self.current_points()).values() for f in p["flags"] if f["status"] == "open"
        ]
        for point, flag in open_flags:
            self.report.note(f"flag {flag['rule']} on {point['metric']} = {point['value']}: checked and resolved")
            resolver = self.actor("province-office") if point["object_id"] == city_object else self.office
            await self.gw.post(
                f"{APPRAISAL}/flags/{flag['id']}/resolution",
                resolver,
                json={"note": "checked against the statistics bureau's bulletin"},
            )
        for status, work in (("submitted", verify), ("verified", accept)):
            points = [p for p in (await self.current_points()).values() if p["status"] == status]
            await self.each(points, work)
        current = await self.current_points()
        accepted = sum(1 for p in current.values() if p["status"] == "accepted")
        self.report.note(f"{accepted} of {len(current)} values accepted")

    async def each(self, items: list[Any], work: Callable[[Any], Awaitable[None]]) -> None:
        """``work`` on every item, a few at a time, with a progress count."""
        gate = asyncio.Semaphore(self.sizes.concurrency)
        done = 0

        async def one(item: Any) -> None:
            nonlocal done
            async with gate:
                await work(item)
            done += 1
            self.report.count(done, len(items))

        await asyncio.gather(*(one(i) for i in items))

    async def experts(self) -> None:
        self.report.step("Experts: an independent panel grades the business environment (E4), sealed")
        await self.require(
            f"{APPRAISAL}/plans/{{plan_id}}/expert-assignments",
            f"{APPRAISAL}/plans/{{plan_id}}/expert-ratings/{{assignment_id}}",
        )
        plan = await self.gw.get(f"{APPRAISAL}/plans/{self.state.plan_id}", self.office)
        closes = dt.datetime.fromisoformat(plan["rating_closes_at"]) if plan["rating_closes_at"] else None
        if plan["status"] not in ("targets_open", "collecting") or closes is None or closes <= dt.datetime.now(dt.UTC):
            self.report.note("the rating window has closed")
            return
        plan_path = f"{APPRAISAL}/plans/{self.state.plan_id}"
        experts = [p for p in self.people if "expert" in p.roles]
        subjects = {}
        for person in experts:
            me = await self.gw.get("/api/v1/me", self.actors[person.username])
            subjects[person.username] = me["subject"]
        existing = await self.gw.all_items(f"{plan_path}/expert-assignments", self.office)
        have = {(a["expert"], a["object_id"]) for a in existing}
        wanted = [
            {
                "expert": subjects[person.username],
                "expert_org_path": person.org_path,
                "object_id": self.state.objects[path],
                "indicator_code": content.GRADE_LEAF,
                "subject": "experts",
            }
            for person in experts
            for path in self.object_paths()
            if (subjects[person.username], self.state.objects[path]) not in have
        ]
        if wanted:
            await self.gw.post(
                f"{plan_path}/expert-assignments",
                self.office,
                json={"items": wanted},
                headers={"Idempotency-Key": f"demo-panel-{self.state.plan_id}-{len(existing)}"},
            )
        grades = {self.state.objects[self.city_path]: content.CITY_EXPERT_GRADE} | {
            self.state.objects[p]: g for p, g in zip(self.county_paths(), content.EXPERT_GRADES, strict=True)
        }
        rated = 0
        for number, person in enumerate(experts, start=1):
            expert = self.actors[person.username]
            mine = await self.gw.all_items(f"{plan_path}/expert-assignments", expert)
            done = {
                r["assignment_id"]
                for r in await self.gw.all_items(f"{plan_path}/expert-ratings", expert, {"mine": "true"})
            }
            for assignment in mine:
                if assignment["id"] in done:
                    continue
                grade = content.expert_grade(grades[assignment["object_id"]], number)
                await self.gw.call(
                    "PUT",
                    f"{plan_path}/expert-ratings/{assignment['id']}",
                    expert,
                    json={"grade": grade, "comment": "graded against the provincial assessment's 18 dimensions"},
                )
                rated += 1
        self.report.note(f"{len(experts)} experts x {len(self.object_paths())} objects; {rated} new sealed ratings")

    async def veto(self) -> None:
        self.report.step("Veto: a major production safety accident in one county caps its grade")
        await self.require(f"{APPRAISAL}/plans/{{plan_id}}/veto-events")
        county, code = content.VETO
        object_id = self.state.objects[f"{self.city_path}/{county}"]
        plan_path = f"{APPRAISAL}/plans/{self.state.plan_id}"
        events = await self.gw.all_items(f"{plan_path}/veto-events", self.office)
        if any(e["object_id"] == object_id and e["code"] == code for e in events):
            return
        await self.gw.post(
            f"{plan_path}/veto-events",
            self.actor("supervision"),
            json={
                "object_id": object_id,
                "code": code,
                "occurred_on": "2026-08-14",
                "description": "A construction site collapsed, 3 deaths; accountability decided by the city.",
            },
            headers={"Idempotency-Key": f"demo-veto-{self.state.plan_id}"},
        )

    async def satisfaction(self) -> None:
        self.report.step("Satisfaction values: the survey's indices arrive in appraisal as data (M1)")
        response = await self.wait_for(
            lambda: self.gw.call(
                "GET",
                f"{APPRAISAL}/data-points",
                self.office,
                params={"metric": content.SATISFACTION_LEAF, "period": content.CYCLE_LABEL, "limit": 500},
            ),
            lambda r: sum(1 for p in r.json()["items"] if p["source"] == "survey") >= len(self.object_paths()),
            "the survey's satisfaction values (survey.results.finalized) to reach appraisal_svc",
            missing="appraisal_svc turns no survey.results.finalized into satisfaction values",
        )
        values = {p["object_id"]: p["value"] for p in response.json()["items"] if p["source"] == "survey"}
        self.state.satisfaction = values
        shown = ", ".join(f"{self.region_of(path)} {values[self.state.objects[path]]}" for path in self.object_paths())
        self.report.note(f"M1 satisfaction index: {shown}")

    async def scoring(self) -> None:
        self.report.step("Scoring: the whole plan scored as a job (result version 1)")
        await self.require(f"{APPRAISAL}/plans/{{plan_id}}/scoring-runs", f"{APPRAISAL}/plans/{{plan_id}}/results")
        status = await self.plan_status()
        if status == "collecting":
            plan = await self.gw.get(f"{APPRAISAL}/plans/{self.state.plan_id}", self.office)
            closes = dt.datetime.fromisoformat(plan["rating_closes_at"])
            wait = (closes - dt.datetime.now(dt.UTC)).total_seconds()
            if wait > 0:
                self.report.note(f"waiting {wait:.0f} s for the experts' rating window to close")
                await asyncio.sleep(wait + 1)
            await self.move_plan("scoring", reason="every value is verified and accepted; the demo scores now")
            status = "scoring"
        runs = await self.gw.all_items(f"{APPRAISAL}/plans/{self.state.plan_id}/scoring-runs", self.office)
        if status == "scoring" and not any(r["status"] == "succeeded" for r in runs):
            run = await self.score("the year's data is complete")
            self.report.note(f"version {run['version']}: {run['object_count']} objects, {run['value_count']} values")
        await self.show_league_table()

    async def score(self, reason: str) -> dict[str, Any]:
        """Request a scoring run and follow it to its end, with progress."""
        plan_path = f"{APPRAISAL}/plans/{self.state.plan_id}"
        run: dict[str, Any] = await self.gw.post(
            f"{plan_path}/scoring-runs", self.office, json={"reason": reason}, expect=(202,)
        )
        while run["status"] in ("queued", "running"):
            await asyncio.sleep(0.5)
            run = await self.gw.get(f"{plan_path}/scoring-runs/{run['id']}", self.office)
            self.report.count(int(float(run["progress"]) * 100), 100)
        if run["status"] != "succeeded":
            raise RuntimeError(f"scoring run {run['version']} {run['status']}: {run.get('error')}")
        return run

    async def publish(self) -> dict[str, Any]:
        """Request the publication job and follow it to its end; a job already active (a demo
        run again after an interruption) is followed instead."""
        path = f"{APPRAISAL}/plans/{self.state.plan_id}"
        etag = await self.gw.etag(path, self.office)
        response = await self.gw.call(
            "POST", f"{path}/publications", self.office, headers={"If-Match": etag}, expect=(202, 409)
        )
        if response.status_code == 202:
            job: dict[str, Any] = response.json()
        else:
            jobs = await self.gw.all_items(f"{path}/publications", self.office)
            active = [j for j in jobs if j["status"] in ("queued", "running")]
            if not active:
                raise RuntimeError(f"publication refused: {response.json().get('detail')}")
            job = active[-1]
        while job["status"] in ("queued", "running"):
            await asyncio.sleep(0.5)
            job = await self.gw.get(f"{path}/publications/{job['id']}", self.office)
            self.report.count(int(float(job["progress"]) * 100), 100)
        if job["status"] != "succeeded":
            raise RuntimeError(f"publication {job['id']} {job['status']}: {job.get('error')}")
        return job

    async def show_league_table(self) -> None:
        table = await self.gw.get(f"{APPRAISAL}/plans/{self.state.plan_id}/results", self.office, params={"limit": 500})
        self.state.result_version = int(table["version"])
        for row in table["items"]:
            capped = f" (veto: capped from {row['grade_by_score']})" if row["veto_cap"] else ""
            place = f"{row['peer_group']:<7} #{row['rank']} {row['object_name']:<18}"
            self.report.note(f"{place} {row['composite']:>7} {row['grade']}{capped}")

    async def review(self) -> None:
        self.report.step("Review: the office reviews version 1 and opens the objection period")
        await self.require(f"{APPRAISAL}/plans/{{plan_id}}/objections")
        if await self.plan_status() == "scoring":
            await self.move_plan("reviewed")
        if await self.plan_status() == "reviewed":
            await self.move_plan("objection")
        plan = await self.gw.get(f"{APPRAISAL}/plans/{self.state.plan_id}", self.office)
        if plan["objection_closes_at"]:
            self.report.note(f"objections until {plan['objection_closes_at']}")

    async def require(self, *paths: str) -> None:
        """Stop cleanly, naming them, when the platform does not offer these gateway routes yet
        (appraisal part 2 is being built): the platform's own OpenAPI document says what exists."""
        if self.routes is None:
            document = await self.gw.get("/openapi.json", None)
            self.routes = set(document.get("paths", {}))
        missing = [p for p in paths if p not in self.routes]
        if missing:
            raise NotAvailable("this platform has no route " + ", ".join(missing) + " yet")

    def county(self, code: str) -> str:
        """A county's appraisal object id."""
        return self.state.objects[f"{self.city_path}/{code}"]

    async def case_policy(self) -> None:
        """Before publication the office says what opens an improvement case (feedback_svc)."""
        path = f"{FEEDBACK}/plans/{self.state.plan_id}/case-policy"
        current = await self.gw.call("GET", path, self.office, expect=(200, 404))
        if current.status_code == 200:
            return  # set before (by an earlier run, or by the office itself): left as it is
        await self.gw.call("PUT", path, self.office, json={"org_path": self.city_path, **content.CASE_POLICY})

    async def objections(self) -> None:
        self.report.step("Objections: one upheld (a corrected value, then a rescore), one dismissed")
        await self.require(
            f"{APPRAISAL}/plans/{{plan_id}}/objections",
            f"{APPRAISAL}/plans/{{plan_id}}/objections/{{objection_id}}/ruling",
        )
        if await self.plan_status() != "objection":
            self.report.note("the objection period is over")
            return
        await self.case_policy()
        plan_path = f"{APPRAISAL}/plans/{self.state.plan_id}"
        filed = await self.gw.all_items(f"{plan_path}/objections", self.office)
        for county, code, *rest in (content.UPHELD, content.DISMISSED):
            reason = rest[-1]
            if not any(o["object_id"] == self.county(county) and o["indicator_code"] == code for o in filed):
                await self.gw.post(
                    f"{plan_path}/objections",
                    self.clerk(county),
                    json={"object_id": self.county(county), "indicator_code": code, "reason": reason},
                    headers={"Idempotency-Key": f"demo-objection-{self.state.plan_id}-{county}-{code}"},
                )
        filed = await self.gw.all_items(f"{plan_path}/objections", self.office)
        upheld = next(o for o in filed if o["object_id"] == self.county(content.UPHELD[0]))
        dismissed = next(o for o in filed if o["object_id"] == self.county(content.DISMISSED[0]))
        if dismissed["status"] == "open":
            await self.rule(
                dismissed,
                {"decision": "dismissed", "reason": "The provincial monitoring network's data are authoritative."},
            )
            self.report.note(f"dismissed: {content.DISMISSED[0]} on {content.DISMISSED[1]}")
        if upheld["status"] == "open":
            point = await self.correct(content.UPHELD[0], content.UPHELD[1], content.UPHELD[2])
            await self.rule(
                upheld,
                {
                    "decision": "upheld",
                    "reason": "The audit bureau confirmed the twelve findings closed in December.",
                    "correction": {
                        "data_point_ids": [point],
                        "note": f"{content.UPHELD[1]} corrected to {content.UPHELD[2]}",
                    },
                },
            )
            self.report.note(
                f"upheld: {content.UPHELD[0]} {content.UPHELD[1]} corrected to {content.UPHELD[2]}; rescoring"
            )
            await self.wait_for_runs()
        await self.show_league_table()

    async def rule(self, objection: dict[str, Any], body: dict[str, Any]) -> None:
        path = f"{APPRAISAL}/plans/{self.state.plan_id}/objections/{objection['id']}"
        await self.gw.post(
            f"{path}/ruling", self.office, json=body, headers={"If-Match": await self.gw.etag(path, self.office)}
        )

    async def correct(self, county: str, metric: str, value: str) -> str:
        """The county submits the corrected value (a new revision), verified and accepted as before."""
        key = (self.county(county), metric)
        point = (await self.current_points())[key]
        if Decimal(point["value"]) != Decimal(value):
            await self.gw.post(
                f"{APPRAISAL}/data-points",
                self.clerk(county),
                json={
                    "object_id": key[0],
                    "metric": metric,
                    "period": content.CYCLE_LABEL,
                    "value": value,
                    "notes": "corrected after the objection",
                },
            )
            point = (await self.current_points())[key]
        if point["status"] == "submitted":
            await self.point_transition(point, self.actor("verifier"), "verified")
            point = (await self.current_points())[key]
        if point["status"] == "verified":
            await self.point_transition(point, self.office, "accepted")
        return str(point["id"])

    async def wait_for_runs(self) -> None:
        plan_path = f"{APPRAISAL}/plans/{self.state.plan_id}"
        while True:
            runs = await self.gw.all_items(f"{plan_path}/scoring-runs", self.office)
            active = [r for r in runs if r["status"] in ("queued", "running")]
            if not active:
                failed = [r for r in runs if r["status"] == "failed"]
                if failed and failed[-1]["version"] == max(r["version"] for r in runs):
                    raise RuntimeError(f"scoring run {failed[-1]['version']} failed: {failed[-1]['error']}")
                return
            self.report.count(int(float(active[-1]["progress"]) * 100), 100)
            await asyncio.sleep(0.5)

    async def publication(self) -> None:
        self.report.step("Publication: the results go public; appraisal.results.published reaches feedback_svc")
        plan = await self.gw.get(f"{APPRAISAL}/plans/{self.state.plan_id}", self.office)
        if plan["status"] == "objection":
            closes = dt.datetime.fromisoformat(plan["objection_closes_at"])
            wait = (closes - dt.datetime.now(dt.UTC)).total_seconds()
            if wait > 0:
                self.report.note(f"waiting {wait:.0f} s for the objection period to end")
                await asyncio.sleep(wait + 1)
            job = await self.publish()
            self.report.note(f"publication job {job['id']}: version {job['result_version']} {job['status']}")
        plan = await self.gw.get(f"{APPRAISAL}/plans/{self.state.plan_id}", self.office)
        self.state.published = plan["status"] == "published"
        self.report.note(f"published at {plan['published_at']}")
        public = await self.gw.call("GET", f"/public/plans/{self.state.plan_id}", None, expect=(200, 404))
        self.state.public_results = public.status_code == 200
        if not self.state.public_results:
            # appraisal_svc serves them; the gateway routes /public/<area> only for the areas it knows.
            self.report.note("the gateway does not route /public/plans yet: public results only at appraisal_svc")

    async def cases(self) -> None:
        self.report.step("Improvement cases with recommendations (feedback_svc)")
        response = await self.wait_for(
            lambda: self.gw.call(
                "GET", f"{FEEDBACK}/cases", self.office, params={"plan_id": self.state.plan_id, "limit": 500}
            ),
            lambda r: bool(r.json()["items"]),
            "appraisal.results.published to open cases in feedback_svc",
        )
        cases = response.json()["items"]
        self.state.cases_opened = len(cases)
        for case in cases:
            first = case["recommendations"][0]["text"] if case["recommendations"] else ""
            self.report.note(f"{case['object_name']} ({case['grade']}): {', '.join(case['reasons'])}")
            if first:
                self.report.note(f"    {first}")

    async def counseling(self) -> None:
        self.report.step("Counseling: findings, agreed actions (tasks), the county's acknowledgement")
        clerk = self.clerk(content.COUNSELED)
        object_id = self.county(content.COUNSELED)
        cases = await self.gw.all_items(f"{FEEDBACK}/cases", self.office, {"plan_id": self.state.plan_id})
        case = next(c for c in cases if c["object_id"] == object_id)
        self.state.counseled_case_id = case["id"]
        sessions = (await self.gw.get(f"{FEEDBACK}/cases/{case['id']}/sessions", self.office))["items"]
        county_path = f"{self.city_path}/{content.COUNSELED}"
        today = dt.date.today()
        if not sessions:
            findings = "; ".join(r["text"] for r in case["recommendations"][:3]) or "Below the plan's attainment floor."
            await self.gw.post(
                f"{FEEDBACK}/cases/{case['id']}/sessions",
                self.office,
                headers={"Idempotency-Key": f"demo-session-{case['id']}"},
                json={
                    "held_on": today.isoformat(),
                    "participants": ["City performance office", self.object_name(county_path)],
                    "findings": findings[:4000],
                    "agreed_actions": [
                        {
                            "title": "Publish a rectification plan for the weakest indicators",
                            "owner_unit_id": self.state.units[county_path],
                            "owner_org_path": county_path,
                            "deadline": (today + dt.timedelta(days=60)).isoformat(),
                        },
                        {
                            # Agreed as already due: the overdue sweep and escalation show at once.
                            "title": "Report the air quality measures taken since the appraisal",
                            "owner_unit_id": self.state.units[county_path],
                            "owner_org_path": county_path,
                            "deadline": (today - dt.timedelta(days=1)).isoformat(),
                        },
                    ],
                },
            )
            sessions = (await self.gw.get(f"{FEEDBACK}/cases/{case['id']}/sessions", self.office))["items"]
        session = sessions[0]
        if session["acknowledged_at"] is None:
            await self.gw.post(
                f"{FEEDBACK}/sessions/{session['id']}/acknowledgement",
                clerk,
                json={"comment": "We accept the findings and the agreed actions."},
            )
        self.report.note(
            f"case of {self.object_name(county_path)}: session held, {len(session['agreed_actions'])} tasks"
        )

    async def tasks(self) -> None:
        self.report.step("Tasks: one done with evidence and verified by the office, one overdue and escalated")
        clerk = self.clerk(content.COUNSELED)
        tasks = await self.gw.all_items(f"{FEEDBACK}/tasks", self.office, {"case_ids": self.state.counseled_case_id})
        done = (
            min(tasks, key=lambda t: t["deadline"], default=None) if False else max(tasks, key=lambda t: t["deadline"])
        )
        if done["status"] in ("open", "in_progress"):
            evidence = await self.gw.post(
                f"{FEEDBACK}/evidence",
                clerk,
                content=b"%PDF-1.4 rectification plan of the county government",
                headers={"Content-Type": "application/pdf"},
            )
            await self.gw.post(
                f"{FEEDBACK}/tasks/{done['id']}/progress",
                clerk,
                json={
                    "note": "The plan is published on the county's website.",
                    "percent_done": 100,
                    "submit": True,
                    "evidence": [{"sha256": evidence["sha256"], "name": "rectification-plan.pdf"}],
                },
            )
            done = await self.gw.get(f"{FEEDBACK}/tasks/{done['id']}", self.office)
        if done["status"] == "submitted":
            path = f"{FEEDBACK}/tasks/{done['id']}"
            await self.gw.post(
                f"{path}/verification",
                self.office,
                json={"approved": True, "note": "Checked the published plan."},
                headers={"If-Match": await self.gw.etag(path, self.office)},
            )
        swept = await self.gw.post(f"{FEEDBACK}/sweeps/overdue", self.office)
        worklist = await self.gw.get(f"{FEEDBACK}/escalations", self.actor("supervision"))
        escalated = [c for c in worklist["cases"] if c["id"] == self.state.counseled_case_id]
        self.state.escalated = bool(escalated)
        self.report.note(
            f"{swept['marked_overdue']} task(s) newly overdue; supervision's worklist: "
            f"{len(worklist['cases'])} escalated case(s), {len(worklist['overdue_tasks'])} overdue task(s)"
        )

    async def decisions(self) -> None:
        self.report.step("Use of results: decisions in the register (bonus, commendation, talks, accountability)")
        made = await self.gw.all_items(f"{FEEDBACK}/decisions", self.office, {"plan_id": self.state.plan_id})
        have = {(d["object_id"], d["kind"]) for d in made}
        deciders = {"performance_bonus": "finance", "admonishment_talk": "supervision", "accountability": "supervision"}
        for county, kind, summary, amount in content.DECISIONS:
            if (self.county(county), kind) in have:
                continue
            body: dict[str, Any] = {
                "plan_id": self.state.plan_id,
                "result_version": self.state.result_version,
                "object_id": self.county(county),
                "kind": kind,
                "summary": summary,
                "decided_on": dt.date.today().isoformat(),
            }
            if amount is not None:
                body["amount"] = amount
            await self.gw.post(
                f"{FEEDBACK}/decisions",
                self.actor(deciders.get(kind, "office")),
                json=body,
                headers={"Idempotency-Key": f"demo-decision-{self.state.plan_id}-{county}-{kind}"},
            )
        self.state.decisions = len(content.DECISIONS)
        report = await self.gw.get("/public/feedback/usage-report", None, params={"cycle_id": self.state.cycle_id})
        self.state.usage = report
        overall = report["overall"]
        self.report.note(f"usage report: {overall}")

    async def meeting(self) -> None:
        self.report.step("Joint meeting: the member units on the escalated case; a resolution becomes a task")
        title = f"Joint meeting on the {content.CYCLE_LABEL} results"
        meetings = await self.gw.all_items(f"{FEEDBACK}/meetings", self.office)
        found = next((m for m in meetings if m["title"] == title), None)
        county_path = f"{self.city_path}/{content.COUNSELED}"
        if found is None:
            found = await self.gw.post(
                f"{FEEDBACK}/meetings",
                self.office,
                headers={"Idempotency-Key": f"demo-meeting-{self.state.plan_id}"},
                json={
                    "org_unit_id": self.state.units[self.city_path],
                    "org_path": self.city_path,
                    "title": title,
                    "held_on": dt.date.today().isoformat(),
                    "members_present": ["perf_office", "finance", "audit", "supervision", "legal"],
                    "agenda": [{"case_id": self.state.counseled_case_id, "topic": "The overdue air quality report"}],
                    "resolutions": [
                        {
                            "text": "The county reports its air quality measures within two weeks.",
                            "assignee_unit_id": self.state.units[county_path],
                            "assignee_org_path": county_path,
                            "deadline": (dt.date.today() + dt.timedelta(days=14)).isoformat(),
                            "case_id": self.state.counseled_case_id,
                        }
                    ],
                },
            )
        self.state.meeting_id = found["id"]

    def object_name(self, path: str) -> str:
        rows = {r["org_path"]: r["name"] for r in content.org_rows(self.sizes.province)}
        return rows[path]

    def region_of(self, path: str) -> str:
        return path.rsplit("/", 1)[1]

    async def survey(self) -> None:
        self.report.step("Survey: the public satisfaction campaign (survey_svc)")
        code = f"{self.sizes.province}-satisfaction-{content.CYCLE_LABEL}"
        questionnaires = await self.gw.all_items(f"{SURVEY}/questionnaires", self.office)
        questionnaire = next((q for q in questionnaires if q["code"] == code), None)
        if questionnaire is None:
            questionnaire = await self.gw.post(
                f"{SURVEY}/questionnaires",
                self.office,
                json={
                    "code": code,
                    "org_unit_id": self.state.units[self.city_path],
                    "org_path": self.city_path,
                    "content": content.questionnaire_content(),
                },
            )
        if questionnaire["status"] != "published":
            path = f"{SURVEY}/questionnaires/{questionnaire['id']}"
            await self.gw.post(
                f"{path}/publish", self.office, headers={"If-Match": await self.gw.etag(path, self.office)}
            )
        campaigns = await self.gw.all_items(f"{SURVEY}/campaigns", self.office)
        campaign = next((c for c in campaigns if c["code"] == code), None)
        if campaign is None:
            today = dt.date.today()
            campaign = await self.gw.post(
                f"{SURVEY}/campaigns",
                self.office,
                json={
                    "code": code,
                    "name": f"Jinzhou public satisfaction {content.CYCLE_LABEL}",
                    "questionnaire_id": questionnaire["id"],
                    "org_unit_id": self.state.units[self.city_path],
                    "org_path": self.city_path,
                    "objects": [
                        {"id": self.state.objects[p], "name": self.object_name(p)} for p in self.object_paths()
                    ],
                    "cells": [
                        {"respondent_group": group, "region": self.region_of(p), "population_share": share}
                        for p in self.object_paths()
                        for group, share in content.RESPONDENT_GROUPS
                    ],
                    "fieldwork_start": today.isoformat(),
                    "fieldwork_end": (today + dt.timedelta(days=30)).isoformat(),
                    "min_cell_size": self.sizes.min_cell_size,
                    "cycle_label": content.CYCLE_LABEL,
                    "plan_id": self.state.plan_id,
                },
            )
        self.state.campaign_id = campaign["id"]
        for to in ("approved", "fieldwork"):
            if campaign["status"] in ("draft", "approved") and campaign["status"] != to:
                campaign = await self.move_campaign(to)
        if campaign["status"] == "fieldwork":
            await self.fieldwork()
            campaign = await self.move_campaign("closed")
        if campaign["analysis_version"] == 0:
            self.report.step("Survey analysis: quality checks, weights, indices with confidence intervals")
            job = await self.gw.post(f"{SURVEY}/campaigns/{campaign['id']}/analyses", self.office, expect=(202,))
            last = -1.0
            while job["status"] in ("queued", "running"):
                await asyncio.sleep(0.5)
                job = await self.gw.get(f"{SURVEY}/jobs/{job['id']}", self.office)
                progress = float(job.get("progress") or 0)
                if progress != last:
                    self.report.count(int(progress * 100), 100)
                    last = progress
            if job["status"] != "succeeded":
                raise RuntimeError(f"the survey analysis job ended {job['status']}: {job.get('error')}")
            campaign = await self.gw.get(f"{SURVEY}/campaigns/{campaign['id']}", self.office)
        analysis = await self.gw.get(f"{SURVEY}/campaigns/{campaign['id']}/analyses/latest", self.office)
        results = analysis["results"]
        self.report.note(f"valid responses {results.get('responses_valid')}, flagged {results.get('flagged')}")
        if campaign["status"] != "published":
            path = f"{SURVEY}/campaigns/{campaign['id']}"
            await self.gw.post(
                f"{path}/publish", self.office, headers={"If-Match": await self.gw.etag(path, self.office)}
            )
            self.report.note("published: survey.results.finalized carries the indices to appraisal_svc")

    async def move_campaign(self, to: str) -> dict[str, Any]:
        path = f"{SURVEY}/campaigns/{self.state.campaign_id}"
        etag = await self.gw.etag(path, self.office)
        moved: dict[str, Any] = await self.gw.post(
            f"{path}/transitions", self.office, json={"to": to}, headers={"If-Match": etag}
        )
        return moved

    async def fieldwork(self) -> None:
        """Invitations per object and group, then the simulated public answers through the public
        route: ordinary respondents, speeders (far too fast), devices answering twice, and a few
        replayed tokens, which the platform refuses."""
        path = f"{SURVEY}/campaigns/{self.state.campaign_id}"
        integrity = await self.gw.get(f"{path}/integrity", self.office)
        already = int(integrity["tokens"].get("spent", 0))
        wanted = self.sizes.survey_responses - already
        if wanted <= 0:
            return
        self.report.step(f"Fieldwork: {wanted} simulated responses through {GATEWAY_PUBLIC_RESPONSES}")
        rng = random.Random(f"{self.sizes.province}-survey")  # noqa: S311 - simulated answers, reproducible
        cells = [(p, g) for p in self.object_paths() for g, _ in content.RESPONDENT_GROUPS]
        per_cell = [wanted // len(cells) + (1 if i < wanted % len(cells) else 0) for i in range(len(cells))]
        expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat()
        bodies: list[dict[str, Any]] = []
        for (object_path, group), count in zip(cells, per_cell, strict=True):
            if count == 0:
                continue
            batch = await self.gw.call(
                "POST",
                f"{path}/token-batches",
                self.office,
                json={
                    "respondent_group": group,
                    "region": self.region_of(object_path),
                    "object_id": self.state.objects[object_path],
                    "count": count,
                    "expires_at": expires,
                },
            )
            mean = content.SATISFACTION_MEANS_BY_PATH(self.sizes.province)[object_path]
            for row in csv.DictReader(io.StringIO(batch.text)):
                bodies.append(
                    {
                        "token": row["token"],
                        "answers": answers(rng, mean),
                        # 150-630 s: far above a third of the median (about 130 s), so that
                        # only the speeders are flagged, whatever the sample's exact median.
                        "duration_seconds": 30 + rng.randint(120, 600),
                        "device_fingerprint": f"device-{rng.getrandbits(64):016x}",
                    }
                )
        rng.shuffle(bodies)
        for body in bodies[: self.sizes.speeders]:
            body["duration_seconds"] = rng.randint(5, 25)
        # Devices answering more than once: their later answers share an earlier device.
        donors = bodies[self.sizes.speeders : self.sizes.speeders + self.sizes.duplicates]
        for donor, body in zip(donors, bodies[-self.sizes.duplicates :], strict=False):
            body["device_fingerprint"] = donor["device_fingerprint"]
        replays = [dict(b) for b in bodies[:5]]

        async def submit(body: dict[str, Any]) -> None:
            response = await self.gw.call(
                "POST", GATEWAY_PUBLIC_RESPONSES, None, json=body, expect=(201, 409, 410, 422)
            )
            if response.status_code == 201:
                self.state.survey_posted += 1
            else:
                self.state.survey_refused += 1

        await self.each(bodies, submit)
        posted = self.state.survey_posted
        await self.each(replays, submit)
        self.report.note(
            f"{posted} responses recorded ({self.sizes.speeders} speeders, {self.sizes.duplicates} repeated devices); "
            f"{self.state.survey_refused} replayed tokens refused"
        )

    async def wait_for(
        self,
        call: Callable[[], Awaitable[httpx.Response]],
        done: Callable[[httpx.Response], bool],
        what: str,
        timeout: float = EVENT_WAIT_SECONDS,
        raise_on: Callable[[httpx.Response], bool] | None = None,
        missing: str | None = None,
    ) -> httpx.Response:
        """Repeat ``call`` until ``done``; an answer that is done but ``raise_on`` is an error."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            response = await call()
            if done(response):
                if raise_on is not None and raise_on(response):
                    raise ApiError(response.request.method, response.request.url.path, response)
                return response
            if asyncio.get_running_loop().time() > deadline:
                if missing is not None:
                    raise NotAvailable(f"{missing} (waited {timeout:.0f} s for {what})")
                raise TimeoutError(f"waited {timeout:.0f} s for {what}")
            await asyncio.sleep(0.5)


def where_to_look(gateway_url: str, state: YearState) -> list[str]:
    """What to open after the year: the accounts and the pages that show each part of it."""
    gw = gateway_url.rstrip("/")
    lines = ["Accounts (sign in at POST /oauth/token, or through the Authorize button of the docs):"]
    lines += [f"  {user:<24} {password}" for user, password in state.passwords.items()]
    lines += [
        "Where to look:",
        f"  API docs              {gw}/docs",
        f"  GraphQL               {gw}/graphql",
        f"  events (AsyncAPI)     {gw}/asyncapi.json",
    ]
    if state.plan_id:
        lines += [
            f"  the plan              {gw}{APPRAISAL}/plans/{state.plan_id}   (token of the office)",
            f"  data collection       {gw}{APPRAISAL}/plans/{state.plan_id}/collection",
            f"  flagged values        {gw}{APPRAISAL}/data-points?flagged=true   (token of audit)",
        ]
    if state.campaign_id:
        lines.append(f"  survey report         {gw}/public/surveys/campaigns/{state.campaign_id}/report   (public)")
    if state.public_results:
        lines += [
            f"  published results     {gw}/public/plans/{state.plan_id}   (public)",
            f"  league table          {gw}/public/plans/{state.plan_id}/results   (public)",
        ]
    if state.cases_opened:
        lines += [
            f"  improvement cases     {gw}{FEEDBACK}/cases?plan_id={state.plan_id}   (token of the office)",
            f"  escalations           {gw}{FEEDBACK}/escalations   (token of supervision)",
        ]
    if state.decisions:
        lines += [
            f"  usage report          {gw}/public/feedback/usage-report?cycle_id={state.cycle_id}   (public)",
            f"  closed cases          {gw}/public/feedback/cases   (public)",
        ]
    if state.meeting_id:
        lines.append(f"  joint meeting minutes {gw}{FEEDBACK}/meetings/{state.meeting_id}/minutes")
    return lines


async def run_year(
    gateway_url: str,
    *,
    admin: Actor,
    password_seed: str,
    sizes: Sizes | None = None,
    report: Reporter | None = None,
    client: httpx.AsyncClient | None = None,
) -> YearState:
    """Drive the year as far as the platform allows, as ``admin`` and the accounts it creates
    (their passwords derive from ``password_seed``); a missing part-2 route ends it with
    `state.missing` naming it (no step is faked)."""
    sizes = sizes or Sizes()
    report = report or Quiet()
    own = client is None
    http = client or httpx.AsyncClient(timeout=120)
    try:
        year = Year(Gateway(gateway_url, http), admin=admin, password_seed=password_seed, sizes=sizes, report=report)
        for step in year.steps():
            try:
                await step()
            except NotAvailable as exc:
                year.state.missing = str(exc)
                report.note(f"stopped: {exc}")
                break
            year.state.reached = step.__name__
        return year.state
    finally:
        if own:
            await http.aclose()
