"""The gateway's intake batches against a survey_svc that misbehaves: every submission of a round
gets an honest problem (503 unreachable, 502 for an unreadable or failed answer), never another
submission's answer; a survey_svc without batches makes the gateway send them one by one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from contracts.intake_batch import BATCH_PATH, IntakeAnswer, IntakeItem, decode_items, encode_answers
from services.gateway.intake import IntakeRelay
from services.gateway.upstream import HttpxTransport, Upstreams
from shared.errors import AppError

ITEMS = [IntakeItem(f"req-{i}", "", f'{{"n": {i}}}'.encode()) for i in range(20)]


class FixedToken:
    """The relay's credentials with a known token, counting how often the service refused it."""

    def __init__(self, token: str = "service-token") -> None:
        self.token, self.forgotten = token, 0

    async def get(self) -> str:
        return self.token

    def forget(self) -> None:
        self.forgotten += 1


async def relay_outcomes(
    handler: Callable[[httpx.Request], httpx.Response], credentials: FixedToken | None = None
) -> tuple[list[object], int]:
    exchanges = 0

    def counting(request: httpx.Request) -> httpx.Response:
        nonlocal exchanges
        exchanges += 1
        return handler(request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(counting))
    upstreams = Upstreams({"survey": "http://survey"}, HttpxTransport(client), timeout=5)
    relay = IntakeRelay(upstreams, credentials or FixedToken())
    relay.start()
    try:
        outcomes = await asyncio.gather(*(relay.submit(item) for item in ITEMS))
    finally:
        await relay.stop()
        await client.aclose()
    return list(outcomes), exchanges


async def test_each_submission_gets_its_own_answer_in_few_exchanges() -> None:
    def survey(request: httpx.Request) -> httpx.Response:
        assert request.url.path == BATCH_PATH
        assert request.headers["authorization"] == "Bearer service-token"
        items = decode_items(request.content)
        return httpx.Response(200, content=encode_answers([IntakeAnswer(201, i.request_id.encode()) for i in items]))

    outcomes, exchanges = await relay_outcomes(survey)
    assert outcomes == [IntakeAnswer(201, item.request_id.encode()) for item in ITEMS]
    assert exchanges < len(ITEMS)


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (httpx.Response(200, content=b"\x00\x01garbage"), 502),  # unreadable frames
        (httpx.Response(200, content=encode_answers([IntakeAnswer(201, b"{}")])), 502),  # too few answers
        (httpx.Response(500, content=b"oops"), 502),
    ],
)
async def test_an_unusable_answer_is_a_502_for_every_submission(answer: httpx.Response, status: int) -> None:
    outcomes, _ = await relay_outcomes(lambda request: answer)
    assert all(isinstance(o, AppError) and o.status == status for o in outcomes), outcomes


async def test_an_unreachable_survey_service_is_a_503_for_every_submission() -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    outcomes, exchanges = await relay_outcomes(refused)
    assert all(isinstance(o, AppError) and o.status == 503 for o in outcomes), outcomes
    assert exchanges < len(ITEMS)  # no retry per submission: survey_svc may have recorded some


async def test_a_survey_service_without_batches_means_one_by_one() -> None:
    outcomes, _ = await relay_outcomes(lambda request: httpx.Response(404, content=b"{}"))
    assert outcomes == [None] * len(ITEMS)


@pytest.mark.parametrize("status", [401, 403])
async def test_a_refused_service_token_means_one_by_one_and_a_fresh_token(status: int) -> None:
    """survey_svc not trusting the gateway's token (its key set behind a rotation) turns no
    respondent away: the submissions go one by one, and the next batch carries a new token."""
    credentials = FixedToken()
    outcomes, _ = await relay_outcomes(lambda request: httpx.Response(status, content=b"{}"), credentials)
    assert outcomes == [None] * len(ITEMS)
    assert credentials.forgotten >= 1
