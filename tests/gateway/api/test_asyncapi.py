"""The gateway serves the committed AsyncAPI document to integrators, without a token."""

import json

from shared.asyncapi import DOCUMENT_PATH


async def test_gateway_serves_the_event_contract(client):
    response = await client.get("/asyncapi.json")
    assert response.status_code == 200
    body = response.json()
    assert body == json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))
    assert body["channels"]["feedback_case_closed"]["address"] == "govperf.feedback.case.closed"
