"""Poison input at the intake: text PostgreSQL cannot store (NUL) or that is not Unicode (a lone
surrogate, which JSON can spell) is refused as a 422 naming the field, the token stays good, and
nothing answers 500."""

import json

from tests.survey_svc.support import assert_problem, good_answers


def raw_json(body: dict) -> bytes:
    # json.dumps spells a lone surrogate as the escape \\ud800, as an attacker would send it.
    return json.dumps(body).encode()


async def test_a_nul_in_a_text_answer_is_refused_and_the_token_stays_good(api, client) -> None:
    campaign = await api.campaign_in_fieldwork()
    (token,) = await api.tokens(campaign["id"], 1)
    refused = await api.submit(token, good_answers(comment="fine\x00"))
    assert_problem(refused, 422, "answers.comment")
    assert (await api.submit(token, good_answers(comment="fine"))).status_code == 201


async def test_lone_surrogates_anywhere_in_a_response_are_refused(api, client) -> None:
    # The JSON parser refuses them before anything reads the body: a 422 naming the body.
    campaign = await api.campaign_in_fieldwork()
    (token,) = await api.tokens(campaign["id"], 1)
    attempts = {
        "answer": {"token": token, "answers": good_answers(comment="\ud800")},
        "token": {"token": token[:-1] + "\udc00", "answers": good_answers()},
        "fingerprint": {"token": token, "answers": good_answers(), "device_fingerprint": "\ud83d"},
    }
    for body in attempts.values():
        r = await client.post(
            "/public/surveys/responses", content=raw_json(body), headers={"content-type": "application/json"}
        )
        assert_problem(r, 422, "body")
    assert (await api.submit(token)).status_code == 201
