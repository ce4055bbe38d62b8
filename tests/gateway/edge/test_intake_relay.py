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


async def relay_outcomes(handler: Callable[[httpx.Request], httpx.Response]) -> tuple[list[object], int]:
    exchanges = 0

    def counting(request: httpx.Request) -> httpx.Response:
        nonlocal exchanges
        exchanges += 1
        return handler(request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(counting))
    relay = IntakeRelay(Upstreams({"survey": "http://survey"}, HttpxTransport(client), timeout=5))
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
