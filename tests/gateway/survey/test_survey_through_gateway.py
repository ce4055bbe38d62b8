"""survey_svc behind the gateway: public routes without a token, and the survey part of the graph
batched through DataLoaders."""

from prometheus_client import REGISTRY

from tests.survey_svc.support import SZ, good_answers


def survey_calls() -> float:
    return REGISTRY.get_sample_value("govperf_gateway_upstream_requests_total", {"service": "survey"}) or 0.0


async def test_public_routes_need_no_token_and_never_forward_one(api, through_gateway, make_token) -> None:
    campaign = await api.campaign_in_fieldwork()
    [token, second] = await api.tokens(campaign["id"], 2)
    page = await through_gateway.get(f"/public/surveys/s/{token}")
    assert page.status_code == 200 and "<form" in page.text
    submitted = await through_gateway.post(
        "/public/surveys/responses", json={"token": token, "answers": good_answers()}
    )
    assert submitted.status_code == 201, submitted.text
    # A token sent along is not passed on (the route is public), and a bad one is not even checked.
    garbage = {"Authorization": "Bearer not-a-token"}
    again = await through_gateway.post(
        "/public/surveys/responses", json={"token": second, "answers": good_answers()}, headers=garbage
    )
    assert again.status_code == 201
    assert (await through_gateway.get("/public/nothing-here/x")).status_code == 404
    assert (await through_gateway.get("/public/surveys/%2e%2e/%2e%2e/metrics")).status_code == 404


async def test_campaigns_with_questionnaire_quotas_and_indices_cost_four_calls(api, client, graph, auth, db) -> None:
    ids = []
    for _ in range(3):
        campaign = await api.campaign_in_fieldwork(min_cell_size=1)
        cid = campaign["id"]
        ids.append(cid)
        await client.put(
            f"/api/v1/campaigns/{cid}/quotas",
            json={"items": [{"investigator": "inv-9", "respondent_group": "enterprises", "region": "ft", "quota": 5}]},
            headers=api.office,
        )
        for token in await api.tokens(cid, 2):
            assert (await api.submit(token)).status_code == 201
        await api.move(cid, "closed")
        await api.analyse(cid, db)
    query = """query($ids0: UUID!, $ids1: UUID!, $ids2: UUID!) {
        a: campaign(id: $ids0) { ...C } b: campaign(id: $ids1) { ...C } c: campaign(id: $ids2) { ...C } }
      fragment C on Campaign { code status questionnaire { title questionCount }
        quotaFill { investigator quota used overflow }
        indices { objectName dimension index ciLow ciHigh n suppressed } }"""
    before = survey_calls()
    data = await graph.data(query, api.office, ids0=ids[0], ids1=ids[1], ids2=ids[2])
    assert survey_calls() - before == 4  # campaigns, questionnaires, quotas, indices: one batch each
    for key in "abc":
        campaign = data[key]
        assert campaign["status"] == "ANALYSED" and campaign["questionnaire"]["questionCount"] == 9
        assert campaign["quotaFill"] == [{"investigator": "inv-9", "quota": 5, "used": 0, "overflow": 0}]
        overall = [i for i in campaign["indices"] if i["dimension"] == "overall" and i["n"] == 2]
        assert overall and float(overall[0]["ciLow"]) <= float(overall[0]["index"]) <= float(overall[0]["ciHigh"])

    # A rated unit sees neither unpublished campaigns nor their numbers.
    outsider = auth("department", org_path=f"{SZ}/ft")
    hidden = await graph.data(query, outsider, ids0=ids[0], ids1=ids[1], ids2=ids[2])
    assert hidden == {"a": None, "b": None, "c": None}
