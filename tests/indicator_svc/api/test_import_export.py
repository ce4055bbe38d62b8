"""Export as JSON, YAML and Excel and import back: exact round trips, and bad files refused with locations."""

import io

import pytest
from openpyxl import load_workbook

from services.indicator_svc.data import load_city_framework
from services.indicator_svc.framework import codecs, logic
from tests.indicator_svc.api.support import BASE, ORG_UNIT, SZ, assert_problem

MEDIA = {
    "json": "application/json",
    "yaml": "application/yaml",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
DECODE = {"json": codecs.from_json, "yaml": codecs.from_yaml, "xlsx": codecs.from_xlsx}


@pytest.mark.parametrize("fmt", ["json", "yaml", "xlsx"])
async def test_export_and_reimport_give_identical_content(client, api, fmt):
    original = await api.published((await api.import_city())["id"])
    r = await client.get(f"{BASE}/{original['id']}/export", params={"format": fmt}, headers=api.office)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(MEDIA[fmt])
    assert r.headers["content-disposition"] == f'attachment; filename="CITY-2025-v1.{fmt}"'
    assert logic.content_hash(DECODE[fmt](r.content)) == original["content_hash"]

    # Re-imported by media type (not ?format=) into another org unit.
    again = await client.post(
        f"{BASE}/import",
        params={"org_unit_id": ORG_UNIT, "org_path": "/gd/sz/copy"},
        content=r.content,
        headers={**api.office, "Content-Type": MEDIA[fmt]},
    )
    assert again.status_code == 201, again.text
    copy = again.json()
    assert copy["status"] == "draft" and copy["org_path"] == "/gd/sz/copy" and copy["code"] == "CITY-2025"
    assert await api.export(copy["id"]) == await api.export(original["id"])  # byte-identical JSON
    copy = await api.published(copy["id"])
    assert copy["content_hash"] == original["content_hash"] == logic.content_hash(load_city_framework())


async def test_yaml_import_by_text_yaml_media_type(client, api):
    data = codecs.to_yaml(load_city_framework())
    r = await client.post(
        f"{BASE}/import",
        params={"org_unit_id": ORG_UNIT, "org_path": SZ},
        content=data,
        headers={**api.office, "Content-Type": "text/yaml; charset=utf-8"},
    )
    assert r.status_code == 201, r.text
    assert len(await api.indicators(r.json()["id"])) == len(load_city_framework().indicators)


async def test_import_with_idempotency_key_creates_once(client, api):
    data = codecs.to_json(load_city_framework())
    params = {"format": "json", "org_unit_id": ORG_UNIT, "org_path": SZ}
    headers = {**api.office, "Idempotency-Key": "import-1"}
    first = await client.post(f"{BASE}/import", params=params, content=data, headers=headers)
    again = await client.post(f"{BASE}/import", params=params, content=data, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"] == "true"
    other = await client.post(
        f"{BASE}/import", params=params, content=data.replace(b"CITY-2025", b"CITY-2026"), headers=headers
    )
    assert_problem(other, 409)
    assert await api.list_ids(code="CITY-2025") == [first.json()["id"]]
    assert await api.list_ids(code="CITY-2026") == []


def city_workbook():
    workbook = load_workbook(io.BytesIO(codecs.to_xlsx(load_city_framework())))
    sheet = workbook["indicators"]
    headers = [c.value for c in sheet[1]]
    return workbook, sheet, {h: i + 1 for i, h in enumerate(headers)}


def saved(workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def test_bad_workbook_names_sheet_row_and_column_and_writes_nothing(api):
    workbook, sheet, column = city_workbook()
    sheet.cell(row=3, column=column["weight"], value="ten points")
    sheet.cell(row=5, column=column["category"], value="astrology")
    sheet.cell(row=6, column=column["scoring_params"], value="{not json")
    before = await api.list_ids()

    body = assert_problem(await api.import_(saved(workbook), "xlsx"), 422)
    located = {(e["sheet"], e["row"], e["column"], e["header"]) for e in body["errors"]}
    assert located == {
        ("indicators", 3, "D", "weight"),
        ("indicators", 5, "E", "category"),
        ("indicators", 6, "K", "scoring_params"),
    }
    assert all(e["location"].startswith("indicators!") for e in body["errors"])
    assert await api.list_ids() == before


async def test_bad_framework_sheet_is_located(api):
    before = await api.list_ids()
    workbook, _, _ = city_workbook()
    sheet = workbook["framework"]
    row = next(r for r in range(1, sheet.max_row + 1) if sheet.cell(row=r, column=1).value == "total_points")
    sheet.cell(row=row, column=2, value="-5")
    body = assert_problem(await api.import_(saved(workbook), "xlsx"), 422)
    assert [(e["sheet"], e["row"], e["column"], e["header"]) for e in body["errors"]] == [
        ("framework", row, "B", "total_points")
    ]
    assert await api.list_ids() == before


async def test_bad_json_and_yaml_name_the_place(api):
    before = await api.list_ids()
    r = await api.import_(b'{"format": "govperf.framework/v1",\n "framework": {,}}', "json")
    assert assert_problem(r, 422)["errors"][0]["line"] == 2

    document = codecs.to_yaml(load_city_framework()).replace(b"weight: '4'\n", b"weight: '-4'\n", 1)
    errors = assert_problem(await api.import_(document, "yaml"), 422)["errors"]
    assert len(errors) == 1 and errors[0]["location"].endswith(".weight") and errors[0]["line"] > 1
    assert await api.list_ids() == before


async def test_duplicate_codes_in_a_file_are_refused(api):
    before = await api.list_ids()
    content = load_city_framework()
    doubled = content.model_copy(update={"indicators": [*content.indicators, content.indicators[-1]]})
    body = assert_problem(
        await api.import_(codecs.to_json(doubled)), 422, f"indicators[{len(content.indicators)}].code"
    )
    assert content.indicators[-1].code in body["errors"][0]["message"]
    assert await api.list_ids() == before


@pytest.mark.parametrize("fmt", ["json", "yaml", "xlsx"])
@pytest.mark.parametrize("data", [b"", b"\x00\xff\xfe garbage \x89PNG", b"PK\x03\x04 not really a zip", b"[1, 2]"])
async def test_garbage_is_a_422_and_writes_nothing(api, fmt, data):
    before = await api.list_ids()
    assert_problem(await api.import_(data, fmt), 422)
    assert await api.list_ids() == before


async def test_unknown_media_type_is_415(client, api):
    params = {"org_unit_id": ORG_UNIT, "org_path": SZ}
    for content_type in ("text/plain", "application/pdf", ""):
        r = await client.post(
            f"{BASE}/import", params=params, content=b"{}", headers={**api.office, "Content-Type": content_type}
        )
        assert_problem(r, 415)
    assert_problem(
        await client.post(f"{BASE}/import", params={**params, "format": "csv"}, content=b"{}", headers=api.office),
        422,
        "format",
    )


async def test_oversize_body_is_413(client, api, indicator_app):
    before = await api.list_ids()
    limit = indicator_app.state.settings.max_body_bytes
    r = await api.import_(b" " * (limit + 1), "json")
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == 413 and str(limit) in r.json()["detail"]

    # Streamed without Content-Length, the cap holds too.
    async def chunks():
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536

    r = await client.post(
        f"{BASE}/import",
        params={"format": "json", "org_unit_id": ORG_UNIT, "org_path": SZ},
        content=chunks(),
        headers=api.office,
    )
    assert r.status_code == 413 and r.json()["status"] == 413
    assert await api.list_ids() == before


async def test_export_of_an_unknown_format_or_framework(client, api):
    framework = await api.create_small()
    assert_problem(
        await client.get(f"{BASE}/{framework['id']}/export", params={"format": "pdf"}, headers=api.office),
        422,
        "format",
    )
    draft = await client.get(f"{BASE}/{framework['id']}/export", params={"format": "yaml"}, headers=api.office)
    assert draft.status_code == 200 and [i.code for i in codecs.from_yaml(draft.content).indicators] == [
        "S",
        "S1",
        "S2",
    ]
