"""Token batches with an Idempotency-Key: a retry gets the same batch back (no second batch), and
what the service keeps for the retry opens only with the key: no token and no key in clear."""

import csv
import datetime as dt
import io
import uuid
from typing import Any

from sqlalchemy import text

from tests.survey_svc.support import OBJECT_A, assert_problem


def batch(count: int = 5) -> dict[str, Any]:
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=10)).isoformat()
    return {
        "respondent_group": "urban_residents",
        "region": "ft",
        "object_id": OBJECT_A,
        "count": count,
        "expires_at": expires,
    }


def tokens_of(csv_text: str) -> list[str]:
    return [row["token"] for row in csv.DictReader(io.StringIO(csv_text))]


async def test_a_retried_batch_gives_the_same_tokens_and_issues_none_more(api, client, db) -> None:
    campaign = await api.campaign_in_fieldwork()
    url, key, body = f"/api/v1/campaigns/{campaign['id']}/token-batches", str(uuid.uuid4()), batch()
    first = await client.post(url, json=body, headers={**api.office, "Idempotency-Key": key})
    retry = await client.post(url, json=body, headers={**api.office, "Idempotency-Key": key})
    assert first.status_code == retry.status_code == 201 and retry.headers["content-type"].startswith("text/csv")
    assert retry.text == first.text and len(tokens_of(first.text)) == 5
    issued = await db.scalar(
        text("SELECT count(*) FROM survey.respondent_token WHERE campaign_id = :c"), {"c": campaign["id"]}
    )
    assert issued == 5
    kept = await db.scalar(text("SELECT string_agg(key || ' ' || response::text, ' ') FROM survey.idempotency_key"))
    assert key not in kept and not any(token in kept for token in tokens_of(first.text))
    assert (await api.submit(tokens_of(retry.text)[0])).status_code == 201  # the replayed tokens are the real ones


async def test_a_batch_key_must_be_long_and_belongs_to_one_request(api, client) -> None:
    campaign = await api.campaign_in_fieldwork()
    url = f"/api/v1/campaigns/{campaign['id']}/token-batches"
    short = await client.post(url, json=batch(), headers={**api.office, "Idempotency-Key": "retry-1"})
    assert_problem(short, 400, "Idempotency-Key")
    key = str(uuid.uuid4())
    assert (await client.post(url, json=batch(5), headers={**api.office, "Idempotency-Key": key})).status_code == 201
    other = await client.post(url, json=batch(6), headers={**api.office, "Idempotency-Key": key})
    assert_problem(other, 409)


async def test_only_the_organizer_who_issued_a_batch_gets_it_again(api, client, auth) -> None:
    campaign = await api.campaign_in_fieldwork()
    url, key, body = f"/api/v1/campaigns/{campaign['id']}/token-batches", str(uuid.uuid4()), batch()
    first = await client.post(url, json=body, headers={**api.office, "Idempotency-Key": key})
    assert first.status_code == 201
    outsider = auth("perf_office", org_path="/gd/gz", subject="office-gz")
    stolen = await client.post(url, json=body, headers={**outsider, "Idempotency-Key": key})
    assert_problem(stolen, 404)
    public = await client.post(url, json=body, headers={**auth("public", org_path="/gd/sz"), "Idempotency-Key": key})
    assert public.status_code in (403, 404) and first.text not in public.text
