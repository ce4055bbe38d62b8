"""Response intake as deployed: survey_svc and the gateway as real uvicorn processes. JSON
submissions take the gateway's fast route and travel to survey_svc in batches; every answer must
still be the one a respondent would get alone, and the edge must hold (body cap, slow bodies,
malformed input, a cut-off survey_svc, the rate limit per address)."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import text

from contracts.intake_batch import BATCH_PATH, IntakeItem, encode_items
from services.gateway.intake import service_token_claims
from shared.auth.devkeys import DevKeys, generate_private_pem
from shared.auth.jwt import sign
from shared.db import create_engine
from shared.embedded import find_free_port
from shared.stack import get_service
from shared.testing.plugin import Infra
from shared.testing.processes import ServiceProcess, start_service
from tests.survey_svc.support import SurveyApi, assert_problem, good_answers

GATEWAY_BODY_CAP = 16 * 1024
BODY_TIMEOUT_SECONDS = 1.0
HEADER_TIMEOUT_SECONDS = 1.0
CUT_OFF_BURST = 3
INTAKE = "/public/surveys/responses"


@dataclass
class Intake:
    survey: ServiceProcess
    gateway: ServiceProcess
    cut_off: ServiceProcess  # a gateway whose survey_svc is not there, with a burst of 3 per address


@pytest.fixture(scope="module")
def intake(migrated: Infra, dev_keys: DevKeys) -> Iterator[Intake]:
    common = {
        "GOVPERF_ENV": "test",
        "GOVPERF_DATABASE_URL": migrated.database_url,
        "GOVPERF_NATS_URL": migrated.nats_url,
        "GOVPERF_DB_POOL_SIZE": "5",
        "GOVPERF_LOG_LEVEL": "WARNING",
        "GOVPERF_JWKS_FILE": str(dev_keys.jwks_path),
    }
    gateway_common = {
        **common,
        "GOVPERF_ADMIN_PASSWORD": "e2e-" + secrets.token_urlsafe(16),
        "GOVPERF_PASSWORD_HASH_TIME_COST": "1",
        "GOVPERF_PASSWORD_HASH_MEMORY_KIB": "1024",
        "GOVPERF_UPSTREAM_CONNECT_TIMEOUT_SECONDS": "1",
    }
    survey_port, gateway_port, cut_off_port, dead_port = (find_free_port() for _ in range(4))
    processes: list[ServiceProcess] = []
    try:
        survey = start_service(
            get_service("survey"),
            survey_port,
            # As deployed: survey_svc trusts the gateway's keys (its service token on batches).
            {
                **common,
                "GOVPERF_RUN_RELAY": "false",
                "GOVPERF_JWKS_URL": f"http://127.0.0.1:{gateway_port}/.well-known/jwks.json",
            },
            log_dir=migrated.data_dir,
        )
        processes.append(survey)
        gateway = start_service(
            get_service("gateway"),
            gateway_port,
            {
                **gateway_common,
                "GOVPERF_UPSTREAMS": json.dumps({"survey": survey.url}),
                "GOVPERF_MAX_BODY_BYTES": str(GATEWAY_BODY_CAP),
                "GOVPERF_INTAKE_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT_SECONDS),
                "GOVPERF_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT_SECONDS),
                "GOVPERF_RATE_LIMIT_PER_MINUTE": "100000",
                "GOVPERF_RATE_LIMIT_BURST": "100000",
            },
            log_dir=migrated.data_dir,
        )
        processes.append(gateway)
        cut_off = start_service(
            get_service("gateway"),
            cut_off_port,
            {
                **gateway_common,
                "GOVPERF_UPSTREAMS": json.dumps({"survey": f"http://127.0.0.1:{dead_port}"}),
                "GOVPERF_RATE_LIMIT_PER_MINUTE": "1",
                "GOVPERF_RATE_LIMIT_BURST": str(CUT_OFF_BURST),
            },
            log_dir=migrated.data_dir,
        )
        processes.append(cut_off)
        for process in processes:
            process.wait_ready()
        yield Intake(survey, gateway, cut_off)
    finally:
        for process in reversed(processes):
            process.stop()
        asyncio.run(_truncate(migrated.database_url))


async def _truncate(database_url: str) -> None:
    """Everything here was committed for real: leave the survey schema as other suites expect it."""
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "TRUNCATE survey.response, survey.respondent_token, survey.token_batch, "
                    "survey.investigator_quota, survey.analysis, survey.campaign, survey.questionnaire, "
                    "survey.outbox, survey.idempotency_key, survey.response_unsealed"
                )
            )
    finally:
        await engine.dispose()


@pytest.fixture
async def api(intake: Intake, auth: Callable[..., dict[str, str]]) -> AsyncIterator[SurveyApi]:
    async with httpx.AsyncClient(base_url=intake.survey.url, timeout=30) as client:
        yield SurveyApi(client, auth)


@pytest.fixture
async def gateway(intake: Intake) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=intake.gateway.url, timeout=30) as client:
        yield client


async def integrity(api: SurveyApi, campaign_id: str) -> dict:
    r = await api.client.get(f"/api/v1/campaigns/{campaign_id}/integrity", headers=api.auth("audit", org_path="/gd/sz"))
    assert r.status_code == 200, r.text
    return r.json()


async def survey_exchanges(gateway: httpx.AsyncClient) -> float:
    metrics = (await gateway.get("/metrics")).text
    line = next(
        row
        for row in metrics.splitlines()
        if row.startswith('govperf_gateway_upstream_requests_total{service="survey"}')
    )
    return float(line.rsplit(" ", 1)[1])


async def test_a_submission_is_recorded_once_with_its_request_id(api, gateway) -> None:
    campaign = await api.campaign_in_fieldwork()
    [token] = await api.tokens(campaign["id"], 1)
    body = {"token": token, "answers": good_answers()}
    first = await gateway.post(INTAKE, json=body, headers={"X-Request-ID": "intake-e2e-1"})
    assert first.status_code == 201, first.text
    assert first.headers["x-request-id"] == "intake-e2e-1"
    assert len(first.json()["receipt"]) == 64 and first.json()["over_quota"] is False
    again = await gateway.post(INTAKE, json=body, headers={"X-Request-ID": "intake-e2e-2"})
    problem = assert_problem(again, 409)
    assert problem["request_id"] == "intake-e2e-2" and problem["instance"] == INTAKE


async def test_concurrent_submits_through_the_gateway_accept_exactly_one_per_token(api, gateway) -> None:
    campaign = await api.campaign_in_fieldwork()
    tokens = await api.tokens(campaign["id"], 20)
    attempts = [tokens[i % 20] for i in range(200)]
    answers = await asyncio.gather(
        *(
            gateway.post(INTAKE, json={"token": t, "answers": good_answers(level=1 + i % 5)})
            for i, t in enumerate(attempts)
        )
    )
    statuses = Counter(r.status_code for r in answers)
    assert statuses == Counter({201: 20, 409: 180}), statuses
    receipts = {r.json()["receipt"] for r in answers if r.status_code == 201}
    report = await integrity(api, campaign["id"])
    assert len(receipts) == 20 and report["tokens"] == {"issued": 20, "spent": 20}
    assert report["responses"]["sealed"] + report["responses"]["unsealed"] == 20 and report["intact"]


async def test_a_bad_answer_is_a_422_naming_it_and_the_token_stays_good(api, gateway) -> None:
    campaign = await api.campaign_in_fieldwork()
    [token] = await api.tokens(campaign["id"], 1)
    bad = good_answers(overall=11, nonsense=1)
    refused = await gateway.post(INTAKE, json={"token": token, "answers": bad})
    assert_problem(refused, 422, "answers.overall", "answers.nonsense")
    unknown_field = await gateway.post(INTAKE, json={"token": token, "answers": good_answers(), "ip": "1.2.3.4"})
    assert_problem(unknown_field, 422, "ip")
    accepted = await gateway.post(INTAKE, json={"token": token, "answers": good_answers()})
    assert accepted.status_code == 201, accepted.text


async def test_malformed_json_wrong_media_type_and_a_form_post(api, gateway) -> None:
    campaign = await api.campaign_in_fieldwork()
    [token] = await api.tokens(campaign["id"], 1)
    truncated = await gateway.post(INTAKE, content=b'{"token": "' + token.encode(), headers=JSON)
    assert_problem(truncated, 422)
    not_utf8 = await gateway.post(INTAKE, content=b'{"token": "\xff\xfe"}', headers=JSON)
    assert_problem(not_utf8, 422)
    plain = await gateway.post(
        INTAKE, content=json.dumps({"token": token}).encode(), headers={"Content-Type": "text/plain"}
    )
    assert_problem(plain, 415)
    # The respondent page's form post is not batched; it still works through the fast route.
    form = {"token": token, **{k: str(v) for k, v in good_answers().items()}}
    posted = await gateway.post(INTAKE, data=form)
    assert posted.status_code == 201 and "Thank you" in posted.text, posted.text


JSON = {"Content-Type": "application/json"}


async def test_a_body_over_the_cap_is_413_declared_or_streamed(gateway) -> None:
    huge = json.dumps({"token": "x", "answers": {"comment": "a" * GATEWAY_BODY_CAP}}).encode()
    declared = await gateway.post(INTAKE, content=huge, headers=JSON)
    assert_problem(declared, 413)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(huge), 4096):
            yield huge[start : start + 4096]

    streamed = await gateway.post(INTAKE, content=chunks(), headers=JSON)
    assert_problem(streamed, 413)


async def test_a_body_that_trickles_in_is_a_408(intake: Intake) -> None:
    address = urlsplit(intake.gateway.url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        writer.write(
            f"POST {INTAKE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
            '{"token": '.encode()
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=BODY_TIMEOUT_SECONDS + 5)
        assert head.startswith(b"HTTP/1.1 408"), head
        assert b"application/problem+json" in head
    finally:
        writer.close()


async def test_headers_that_trickle_in_are_a_408_and_the_connection_closes(intake: Intake) -> None:
    """A slowloris client (a header line now and then, never the end of the head) is cut off after
    the header timeout, as is one that connects and sends nothing; a prompt request on a connection
    is unaffected by an earlier one's pause."""
    address = urlsplit(intake.gateway.url)

    async def trickle(writer: asyncio.StreamWriter) -> None:
        writer.write(f"POST {INTAKE} HTTP/1.1\r\nHost: x\r\n".encode())
        for n in range(20):
            await asyncio.sleep(HEADER_TIMEOUT_SECONDS / 4)
            if writer.is_closing():
                return
            writer.write(f"X-Slow-{n}: y\r\n".encode())

    for sends in (trickle, None):
        reader, writer = await asyncio.open_connection(address.hostname, address.port)
        started = asyncio.get_running_loop().time()
        slow = asyncio.create_task(sends(writer)) if sends is not None else None
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=HEADER_TIMEOUT_SECONDS + 5)
            assert head.startswith(b"HTTP/1.1 408"), head
            assert b"application/problem+json" in head
            await asyncio.wait_for(reader.read(), timeout=5)  # then the connection is closed
            assert asyncio.get_running_loop().time() - started < HEADER_TIMEOUT_SECONDS + 3
        finally:
            if slow is not None:
                slow.cancel()
            writer.close()
    # Kept alive past the timeout between requests, a connection still serves a prompt request.
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        for _ in range(2):
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
            assert head.startswith(b"HTTP/1.1 200"), head
            await reader.readexactly(int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0]))
            await asyncio.sleep(HEADER_TIMEOUT_SECONDS * 0.6)
    finally:
        writer.close()


async def test_a_cut_off_survey_service_is_503_and_the_address_limit_still_holds(intake: Intake) -> None:
    async with httpx.AsyncClient(base_url=intake.cut_off.url, timeout=30) as client:
        body = {"token": "t" * 24, "answers": good_answers()}
        answers = [await client.post(INTAKE, json=body) for _ in range(CUT_OFF_BURST + 2)]
        # One bucket per address for the whole gateway: the fast route spent it for the others too.
        page = await client.get("/public/surveys/s/some-token")
    assert_problem(page, 429)
    for answer in answers[:CUT_OFF_BURST]:
        problem = assert_problem(answer, 503)
        assert "127.0.0.1" not in json.dumps(problem)  # no address behind the gateway leaks
    for answer in answers[CUT_OFF_BURST:]:
        assert_problem(answer, 429)
        assert int(answer.headers["retry-after"]) >= 1


async def test_the_batch_route_is_internal(intake: Intake, gateway, dev_keys: DevKeys) -> None:
    for path in (
        BATCH_PATH,
        f"/public/surveys/..%2F..%2F{BATCH_PATH.lstrip('/')}",
        "/public/surveys/../../internal/intake/batch",
    ):
        refused = await gateway.post(path, content=b"\x00\x00\x00\x00\x00\x00\x00\x01x")
        assert refused.status_code in (404, 405), (path, refused.status_code)
    gateway_token = {"Authorization": f"Bearer {service_token(dev_keys.private_key_pem, dev_keys.kid)}"}
    async with httpx.AsyncClient(base_url=intake.survey.url, timeout=30) as direct:
        garbled = await direct.post(BATCH_PATH, content=b"\x00\x05\x00\x00\x00\x00\x10\x00abc", headers=gateway_token)
        assert_problem(garbled, 400)
        empty = await direct.post(BATCH_PATH, content=b"", headers=gateway_token)
        assert empty.status_code == 200 and empty.content == b""


def service_token(private_pem: str, kid: str, **claims: object) -> str:
    """A token shaped as the gateway's service token, signed with ``private_pem``."""
    now = int(time.time())
    return sign(
        service_token_claims(issuer="govperf", audience="govperf", now=now, lifetime=60) | claims,
        private_pem,
        algorithm="ES256",
        kid=kid,
    )


async def test_only_the_gateway_may_send_intake_batches(api, gateway, dev_keys: DevKeys, auth) -> None:
    """A batch vouches for its submissions (their device cookies), so survey_svc takes it with the
    gateway's service token only: for anyone else it records nothing and the token stays good."""
    campaign = await api.campaign_in_fieldwork()
    [token] = await api.tokens(campaign["id"], 1)
    submission = json.dumps({"token": token, "answers": good_answers()}).encode()
    batch = encode_items([IntakeItem("forged-1", "gp_device=someone-else", submission)])
    own_key = dev_keys.private_key_pem, dev_keys.kid
    expired = int(time.time()) - 60
    refused = {
        "no token": ({}, 401),
        "a user's token": (auth("perf_office", org_path="/gd/sz"), 403),
        "an investigator's token": (auth("investigator", org_path="/gd/sz"), 403),
        "another subject": ({"Authorization": f"Bearer {service_token(*own_key, sub='feedback')}"}, 403),
        "an unknown key": ({"Authorization": f"Bearer {service_token(generate_private_pem(), 'stranger')}"}, 401),
        "expired": ({"Authorization": f"Bearer {service_token(*own_key, exp=expired)}"}, 401),
    }
    for case, (headers, status) in refused.items():
        answer = await api.client.post(BATCH_PATH, content=batch, headers=headers)
        assert answer.status_code == status, (case, answer.text)
        assert answer.headers["content-type"] == "application/problem+json", case
        assert token not in answer.text, case
    report = await integrity(api, campaign["id"])
    assert report["responses"]["sealed"] + report["responses"]["unsealed"] == 0
    accepted = await gateway.post(INTAKE, json={"token": token, "answers": good_answers()})
    assert accepted.status_code == 201, accepted.text


async def test_a_submission_with_a_huge_cookie_header_goes_on_its_own_and_counts(api, gateway) -> None:
    campaign = await api.campaign_in_fieldwork()
    [token] = await api.tokens(campaign["id"], 1)
    cookie = f"tracking={'x' * 9000}; gp_device=device-1"
    answer = await gateway.post(INTAKE, json={"token": token, "answers": good_answers()}, headers={"Cookie": cookie})
    assert answer.status_code == 201, answer.text
