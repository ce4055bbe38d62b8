"""Concurrent writers on one framework through the gateway (real processes, real commits): the
version in If-Match lets exactly one of them win; the others get 412 and lose nothing silently."""

from __future__ import annotations

import asyncio

from tests.e2e.test_gateway import create


async def test_concurrent_patches_with_one_etag_have_one_winner(http, platform, headers):
    h = headers()
    created = await create(http, platform, h)
    assert created.status_code == 201, created.text
    url = platform.via_gateway(f"/frameworks/{created.json()['id']}")
    etag = created.headers["etag"]

    async def rename(n: int):
        return await http.patch(url, json={"name": f"writer {n}"}, headers={**h, "If-Match": etag})

    answers = await asyncio.gather(*(rename(n) for n in range(6)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [412] * 5, [a.text for a in answers]
    winner = next(a for a in answers if a.status_code == 200).json()
    for loser in (a for a in answers if a.status_code == 412):
        assert loser.headers["content-type"].startswith("application/problem+json")
        assert loser.headers["etag"] == f'"{winner["lock_version"]}"'  # the version to reload
    read = (await http.get(url, headers=h)).json()
    assert read["name"] == winner["name"] and read["lock_version"] == 2


async def test_a_blind_write_is_refused_and_changes_nothing(http, platform, headers):
    h = headers()
    created = await create(http, platform, h, name="Kept")
    url = platform.via_gateway(f"/frameworks/{created.json()['id']}")
    for blind in ({}, {"If-Match": "*"}):
        refused = await http.patch(url, json={"name": "Overwritten"}, headers={**h, **blind})
        assert refused.status_code == 428, refused.text
        assert refused.json()["errors"] == [{"field": "If-Match", "message": "required", "type": "missing"}]
    assert (await http.delete(url, headers=h)).status_code == 428
    read = await http.get(url, headers=h)
    assert read.json()["name"] == "Kept" and read.headers["etag"] == '"1"'
