"""The gateway's intake batches as survey_svc takes them (``POST /internal/intake/batch`` with the
gateway's service token), with real commits: one token read and one write per batch, yet every
submission answered as it would be alone, concurrent batches sharing tokens spending each once,
and one access line per submission."""

import asyncio
import json
import logging
import random
import time
from collections import Counter

import pytest
from sqlalchemy import text

from contracts.intake_batch import BATCH_PATH, IntakeAnswer, IntakeItem, decode_answers, encode_items
from services.gateway.intake import service_token_claims
from shared.auth.jwt import sign
from tests.survey_svc.support import SurveyApi, good_answers


@pytest.fixture
def gateway_headers(dev_keys) -> dict[str, str]:
    """The gateway's service token, signed with the key survey_svc trusts in tests."""
    claims = service_token_claims(issuer="govperf", audience="govperf", now=int(time.time()), lifetime=300)
    return {"Authorization": f"Bearer {sign(claims, dev_keys.private_key_pem, algorithm='ES256', kid=dev_keys.kid)}"}


def item(request_id: str, body: object, cookie: str = "") -> IntakeItem:
    return IntakeItem(request_id, cookie, body if isinstance(body, bytes) else json.dumps(body).encode())


async def post_batch(client, headers: dict[str, str], items: list[IntakeItem]) -> list[IntakeAnswer]:
    answer = await client.post(BATCH_PATH, content=encode_items(items), headers=headers)
    assert answer.status_code == 200, answer.text
    return decode_answers(answer.content, len(items))


async def stored_responses(live_app, campaign_id: str) -> int:
    async with live_app.state.engine.connect() as conn:
        return int(
            await conn.scalar(text("SELECT count(*) FROM survey.response WHERE campaign_id = :c"), {"c": campaign_id})
        )


async def test_concurrent_batches_sharing_tokens_spend_each_token_once(
    committing_client, auth, live_app, gateway_headers
) -> None:
    """Ten batches of the same 100 tokens in different orders, at once (1,000 submits): written
    side by side, they lock shared tokens in one order, so none fails and exactly 100 count."""
    api = SurveyApi(committing_client, auth)
    campaign = await api.campaign_in_fieldwork()
    tokens = await api.tokens(campaign["id"], 100)
    batches = []
    for b in range(10):
        order = random.Random(b).sample(tokens, len(tokens))
        batches.append([item(f"b{b}-{i}", {"token": t, "answers": good_answers()}) for i, t in enumerate(order)])
    answers = await asyncio.gather(*(post_batch(committing_client, gateway_headers, batch) for batch in batches))
    statuses = Counter(a.status for batch in answers for a in batch)
    assert statuses == {201: 100, 409: 900}, statuses
    receipts = {json.loads(a.body)["receipt"] for batch in answers for a in batch if a.status == 201}
    async with live_app.state.engine.connect() as conn:
        stored = set(
            await conn.scalars(
                text("SELECT content_hash FROM survey.response WHERE campaign_id = :c"), {"c": campaign["id"]}
            )
        )
    assert stored == receipts


async def test_each_submission_of_a_batch_gets_the_answer_it_would_get_alone(
    committing_client, auth, live_app, gateway_headers
) -> None:
    api = SurveyApi(committing_client, auth)
    campaign = await api.campaign_in_fieldwork()
    good, bad, poisoned, twice = await api.tokens(campaign["id"], 4)
    items = [
        item("good", {"token": good, "answers": good_answers()}),
        item("bad-answer", {"token": bad, "answers": {**good_answers(), "g1": 7}}),
        item("unknown-token", {"token": "no-such-token-at-all", "answers": good_answers()}),
        item("not-json", b'{"token": '),
        item("extra-field", {"token": twice, "answers": good_answers(), "admin": True}),
        item("again", {"token": good, "answers": good_answers()}),
        # A lone surrogate escape has no UTF-8 spelling (it could be neither hashed into the
        # receipt nor stored): refused as bad input, never a 500.
        item(
            "lone-surrogate",
            b'{"token": "%s", "answers": %s}'
            % (poisoned.encode(), json.dumps({**good_answers(), "comment": "\ud800"}).encode()),
        ),
        item("surrogate-token", b'{"token": "\\udfff", "answers": {}}'),
    ]
    answered = await post_batch(committing_client, gateway_headers, items)
    answers = {i.request_id: a for i, a in zip(items, answered, strict=True)}
    assert {rid: a.status for rid, a in answers.items()} == {
        "good": 201,
        "bad-answer": 422,
        "unknown-token": 404,
        "not-json": 422,
        "extra-field": 422,
        "again": 409,
        "lone-surrogate": 422,
        "surrogate-token": 422,
    }
    problems = {rid: json.loads(a.body) for rid, a in answers.items() if a.status != 201}
    assert all(p["request_id"] == rid and p["instance"] == "/public/surveys/responses" for rid, p in problems.items())
    named = {rid: {e["field"] for e in p.get("errors", [])} for rid, p in problems.items()}
    assert "answers.g1" in named["bad-answer"]
    assert any(f.endswith("admin") for f in named["extra-field"])
    assert await stored_responses(live_app, campaign["id"]) == 1
    # Nothing refused was spent: each respondent can fix the answer and send it again.
    for token in (bad, poisoned, twice):
        assert (await api.submit(token)).status_code == 201
    assert await stored_responses(live_app, campaign["id"]) == 4


async def test_every_batched_submission_has_its_own_access_line(committing_client, auth, gateway_headers) -> None:
    api = SurveyApi(committing_client, auth)
    campaign = await api.campaign_in_fieldwork()
    tokens = await api.tokens(campaign["id"], 2)
    items = [
        item("line-1", {"token": tokens[0], "answers": good_answers()}),
        item("line-2", {"token": tokens[1], "answers": {"g1": 9}}),
        item("line-3", {"token": tokens[0], "answers": good_answers()}),
    ]
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    access = logging.getLogger("govperf.access")
    handler, level = Collect(), access.level
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        await post_batch(committing_client, gateway_headers, items)
    finally:
        access.removeHandler(handler)
        access.setLevel(level)
    logged = [json.loads(line) for line in lines]
    per_item = {entry["request_id"]: entry for entry in logged if entry.get("batched")}
    assert {rid: e["status"] for rid, e in per_item.items()} == {"line-1": 201, "line-2": 422, "line-3": 409}
    assert all(e["path"] == "/public/surveys/responses" and e["ms"] >= 0 for e in per_item.values())
    assert any(entry.get("path") == BATCH_PATH for entry in logged)  # and the batch's own line


async def test_a_row_the_database_refuses_fails_only_its_own_submission(
    committing_client, auth, live_app, gateway_headers
) -> None:
    """A batch's write fails whole when the database refuses one row (here a constraint the test
    adds): it changed nothing, so the others are written again one by one and only that one is a
    500, with its token unspent."""
    api = SurveyApi(committing_client, auth)
    campaign = await api.campaign_in_fieldwork()
    tokens = await api.tokens(campaign["id"], 5)
    refused = "the database refuses this"
    async with live_app.state.engine.begin() as conn:
        await conn.execute(
            text(
                "ALTER TABLE survey.response ADD CONSTRAINT test_refuses_one "
                f"CHECK (answers->>'comment' IS DISTINCT FROM '{refused}') NOT VALID"
            )
        )
    try:
        items = [
            item(f"r{i}", {"token": t, "answers": good_answers(comment=refused if i == 2 else "fine")})
            for i, t in enumerate(tokens)
        ]
        answers = await post_batch(committing_client, gateway_headers, items)
    finally:
        async with live_app.state.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE survey.response DROP CONSTRAINT test_refuses_one"))
    assert [a.status for a in answers] == [201, 201, 500, 201, 201]
    problem = json.loads(answers[2].body)
    assert problem["request_id"] == "r2" and refused not in answers[2].body.decode()
    assert await stored_responses(live_app, campaign["id"]) == 4
    assert (await api.submit(tokens[2])).status_code == 201
