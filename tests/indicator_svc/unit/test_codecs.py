"""Import and export: exact round trips, located errors, and hostile bytes."""

import contextlib
import io
import json
import zipfile
from decimal import Decimal
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook

from services.indicator_svc.data import load_city_framework
from services.indicator_svc.framework.codecs import (
    FORMAT,
    INDICATOR_COLUMNS,
    MAX_INPUT_BYTES,
    CodecError,
    from_json,
    from_xlsx,
    from_yaml,
    to_json,
    to_xlsx,
    to_yaml,
)
from services.indicator_svc.framework.content import (
    Category,
    Direction,
    EvaluationSubject,
    FrameworkContent,
    IndicatorKind,
    IndicatorSpec,
    NatureTag,
)
from services.indicator_svc.framework.logic import content_hash

CODECS = {"json": (to_json, from_json), "yaml": (to_yaml, from_yaml), "xlsx": (to_xlsx, from_xlsx)}
READERS = [from_json, from_yaml, from_xlsx]


def errors_of(reader: Any, data: bytes) -> list[Any]:
    with pytest.raises(CodecError) as caught:
        reader(data)
    return caught.value.errors


@pytest.mark.parametrize("fmt", list(CODECS))
def test_city_framework_round_trips_exactly(fmt: str) -> None:
    write, read = CODECS[fmt]
    city = load_city_framework()
    again = read(write(city))
    assert again == city
    assert content_hash(again) == content_hash(city)


def test_json_document_layout() -> None:
    document = json.loads(to_json(load_city_framework()))
    assert list(document) == ["format", "framework", "indicators"]
    assert document["format"] == FORMAT
    assert set(document["framework"]) == {"code", "name", "description", "total_points", "policy"}
    assert document["indicators"][0]["weight"] == "25"  # Decimals travel as exact strings


def test_json_numbers_are_parsed_as_decimals_not_floats() -> None:
    # As a float 1.2000000000000000001 would silently become 1.2.
    document = json.loads(to_json(load_city_framework()))
    text = json.dumps(document).replace('"cap": "1.2"', '"cap": 1.2000000000000000001', 1)
    with pytest.raises(CodecError, match="decimal places"):
        from_json(text.encode())


def test_bad_json_syntax_names_line_and_column() -> None:
    [error] = errors_of(from_json, b'{\n  "format": ,\n}')
    assert error.line == 2 and error.location.startswith("line 2 column")


def test_json_reports_every_problem_with_its_path() -> None:
    document = json.loads(to_json(load_city_framework()))
    document["format"] = "other/v9"
    document["framework"]["total_points"] = "-1"
    document["indicators"][3]["weight"] = "heavy"
    document["indicators"][4]["code"] = "bad code!"
    document["indicators"][5]["scoring"] = {"method": "target_ratio", "cap": 9}
    document["indicators"][6]["colour"] = "red"
    document["extra"] = 1
    errors = errors_of(from_json, json.dumps(document).encode())
    assert {e.location for e in errors} == {
        "format",
        "extra",
        "framework.total_points",
        "indicators[3].weight",
        "indicators[4].code",
        "indicators[5].scoring.cap",
        "indicators[6].colour",
    }


@pytest.mark.parametrize("payload", [b"[]", b"null", b'"text"', b"{}"])
def test_json_that_is_not_a_framework_document(payload: bytes) -> None:
    assert errors_of(from_json, payload)


YAML_WITH_ERRORS = b"""\
format: govperf.framework/v1
framework:
  code: T
  name: Test
indicators:
  - code: A
    name: Alpha
    weight: lots
    category: economic
  - code: B
    name: Beta
    weight: 1
    category: moon
"""


def test_yaml_errors_carry_path_and_line() -> None:
    errors = errors_of(from_yaml, YAML_WITH_ERRORS)
    assert [(e.location, e.line) for e in errors] == [
        ("indicators[0].weight", 8),
        ("indicators[1].category", 13),
    ]


def test_yaml_syntax_error_names_the_line() -> None:
    [error] = errors_of(from_yaml, b"format: x\nframework: [unclosed\nindicators: []\n")
    assert error.line is not None and error.location == f"line {error.line}"


@pytest.mark.parametrize(
    "payload",
    [
        b"a: &x [1, 2]\nb: *x\n",  # aliases: the seed of a billion-laughs bomb
        b"!!python/object/apply:os.system ['echo hi']\n",
        b"when: 2024-13-45\n",
        b"--- 1\n--- 2\n",
        b"- just\n- a list\n",
        b"",
        b"\xff\xfe\x00garbage",
        b"[" * 5000,
    ],
)
def test_hostile_or_wrong_yaml_is_a_codec_error(payload: bytes) -> None:
    assert errors_of(from_yaml, payload)


def test_oversized_input_is_rejected_before_parsing() -> None:
    huge = b" " * (MAX_INPUT_BYTES + 1)
    for reader in READERS:
        assert errors_of(reader, huge)


# --- xlsx -----------------------------------------------------------------------------


def workbook_bytes(
    indicator_rows: list[list[Any]], header: list[str] | None = None, framework_rows: list[list[Any]] | None = None
) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "framework"
    for row in framework_rows or [["format", FORMAT], ["code", "T"], ["name", "Test"]]:
        sheet.append(row)
    indicators = workbook.create_sheet("indicators")
    indicators.append(header or list(INDICATOR_COLUMNS))
    for row in indicator_rows:
        indicators.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def row(**cells: Any) -> list[Any]:
    return [cells.get(column) for column in INDICATOR_COLUMNS]


def test_xlsx_errors_name_sheet_row_column_and_header() -> None:
    data = workbook_bytes(
        [
            row(code="A", name="Alpha", weight=100, category="economic"),
            row(code="A1", parent_code="A", name="Alpha one", weight="ten"),
            row(code="A2", parent_code="A", name="Alpha two", weight=1, category="moon"),
            row(
                code="A3",
                parent_code="A",
                name="Alpha three",
                weight=1,
                scoring_method="target_ratio",
                scoring_params="{not json",
            ),
            row(code="A4", parent_code="A", name="Alpha four", weight=1, scoring_params='{"cap": 1}'),
            row(
                code="A5",
                parent_code="A",
                name="Alpha five",
                weight=1,
                scoring_method="target_ratio",
                scoring_params='{"cap": 7}',
            ),
        ]
    )
    errors = errors_of(from_xlsx, data)
    found = [(e.sheet, e.row, e.column, e.header) for e in errors]
    assert found == [
        ("indicators", 3, "D", "weight"),
        ("indicators", 4, "E", "category"),
        ("indicators", 5, "K", "scoring_params"),
        ("indicators", 6, "J", "scoring_method"),
        ("indicators", 7, "K", "scoring_params"),
    ]
    assert errors[0].location == "indicators!D3 (weight)"
    assert "cap" in errors[4].message


def test_xlsx_framework_sheet_errors() -> None:
    data = workbook_bytes(
        [row(code="A", name="Alpha", weight=100)],
        framework_rows=[
            ["format", "other"],
            ["code", "T"],
            ["name", "Test"],
            ["total_points", "-5"],
            ["policy", "{bad"],
            ["colour", "red"],
        ],
    )
    found = {(e.sheet, e.row, e.header) for e in errors_of(from_xlsx, data)}
    assert found == {
        ("framework", 1, "format"),
        ("framework", 4, "total_points"),
        ("framework", 5, "policy"),
        ("framework", 6, None),
    }


def test_xlsx_header_problems() -> None:
    data = workbook_bytes([["A", "Alpha"]], header=["code", "name", "colour"])
    found = {(e.row, e.column, e.header, e.message) for e in errors_of(from_xlsx, data)}
    assert (1, "C", "colour", "unknown column") in found
    assert (1, None, "weight", "required column 'weight' is missing") in found


def test_xlsx_accepts_numbers_typed_in_excel_and_skips_blank_rows() -> None:
    data = workbook_bytes(
        [
            row(code="A", name="Alpha", weight=100, category="economic", nature_tags="quality, outcome"),
            row(),
            row(
                code="A1",
                parent_code="A",
                name="Alpha one",
                weight=0.1,
                scoring_method="linear",
                scoring_params='{"floor": 0.5}',
                evaluation_subjects="public,experts",
            ),
        ]
    )
    content = from_xlsx(data)
    first, second = content.indicators
    assert first.nature_tags == [NatureTag.QUALITY, NatureTag.OUTCOME]
    assert second.weight == Decimal("0.1")
    assert second.scoring is not None and second.scoring.model_dump() == {
        "method": "linear",
        "floor_from": "value",
        "floor": Decimal("0.5"),
        "cap": Decimal(1),
    }


def test_xlsx_keeps_text_that_looks_like_a_formula() -> None:
    city = load_city_framework()
    first = city.indicators[0].model_copy(update={"formula": "=SUM(A1:A9)", "unit": "=1+1"})
    content = city.model_copy(update={"indicators": [first, *city.indicators[1:]]})
    assert from_xlsx(to_xlsx(content)) == content
    sheet = load_workbook(io.BytesIO(to_xlsx(content)))["indicators"]
    assert sheet["N2"].data_type == "s"


def test_xlsx_missing_sheet() -> None:
    workbook = Workbook()
    buffer = io.BytesIO()
    workbook.save(buffer)
    messages = {e.message for e in errors_of(from_xlsx, buffer.getvalue())}
    assert "sheet 'framework' is missing" in messages
    assert "sheet 'indicators' is missing" in messages


def test_xlsx_too_many_rows() -> None:
    rows = [row(code=f"A{n}", name=f"Alpha {n}", weight=0) for n in range(5001)]
    errors = errors_of(from_xlsx, workbook_bytes(rows))
    assert any("more than 5000 rows" in e.message for e in errors)


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not a workbook at all",
        b"PK\x03\x04 truncated zip",
        zip_bytes({"hello.txt": b"hi"}),
        zip_bytes({"xl/workbook.xml": b"<not-xml"}),
        zip_bytes({"bomb.txt": b"0" * (65 * 1024 * 1024)}),
    ],
)
def test_non_xlsx_bytes_are_a_codec_error(payload: bytes) -> None:
    assert errors_of(from_xlsx, payload)


@settings(max_examples=150)
@given(st.binary(max_size=2048))
def test_any_bytes_give_content_or_codec_error(data: bytes) -> None:
    for reader in READERS:
        with contextlib.suppress(CodecError):  # either outcome is fine; any other exception fails
            reader(data)


@given(
    st.sampled_from(["json", "yaml"]),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=20,
    ),
)
def test_any_document_gives_content_or_codec_error(fmt: str, document: Any) -> None:
    payload = json.dumps(document) if fmt == "json" else yaml.safe_dump(document)
    with contextlib.suppress(CodecError):
        CODECS[fmt][1](payload.encode())


# --- generated contents round-trip ----------------------------------------------------

safe_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\ufffe\uffff")
    | st.sampled_from("\n\t"),
    min_size=1,
    max_size=40,
).filter(lambda s: s.strip() == s and s != "")
decimals = st.decimals(min_value=0, max_value=1000, places=4)


def bounded_text(max_length: int) -> st.SearchStrategy[str]:
    return safe_text.map(lambda s: s[:max_length].strip() or "x")


shares = st.decimals(min_value=0, max_value=1, places=4)
scoring_rules = st.one_of(
    st.none(),
    st.builds(lambda cap: {"method": "target_ratio", "cap": cap}, st.decimals(min_value="0.01", max_value=3, places=2)),
    st.builds(lambda floor: {"method": "linear", "floor": floor}, st.decimals(min_value=-100, max_value=100, places=3)),
    st.builds(
        # Shares fall from the best grade to the worst, the best above the worst.
        lambda s: {
            "method": "grade",
            "scale": "ABCD",
            "shares": dict(zip("ABCD", sorted(s, reverse=True), strict=True)),
        },
        st.lists(shares, min_size=4, max_size=4, unique=True),
    ),
    st.builds(
        lambda events: {"method": "veto", "events": events, "cap_grade": "fail"},
        st.lists(st.from_regex(r"[a-z][a-z0-9_.-]{0,63}", fullmatch=True), min_size=1, max_size=3, unique=True),
    ),
    st.builds(
        lambda t: {"method": "bands", "bands": [{"threshold": x, "share": "0.5"} for x in sorted(t)]},
        st.lists(st.integers(-50, 50), min_size=1, max_size=4, unique=True),
    ),
)


@st.composite
def contents(draw: st.DrawFn) -> FrameworkContent:
    count = draw(st.integers(0, 8))
    codes = [f"I{n}" for n in range(count)]
    indicators = []
    for n, code in enumerate(codes):
        parent = draw(st.none() | st.sampled_from(codes[:n])) if n else None
        optional = {
            field: draw(st.none() | bounded_text(m))
            for field, m in (
                ("unit", 32),
                ("data_source", 500),
                ("formula", 500),
                ("responsible_unit", 200),
                ("legal_basis", 500),
                ("description", 2000),
            )
        }
        indicators.append(
            IndicatorSpec.model_validate(
                {
                    "code": code,
                    "name": draw(safe_text),
                    "parent_code": parent,
                    "weight": draw(decimals),
                    "category": draw(st.none() | st.sampled_from(list(Category))),
                    "nature_tags": draw(st.lists(st.sampled_from(list(NatureTag)), unique=True, max_size=7)),
                    "kind": draw(st.sampled_from(list(IndicatorKind))),
                    "direction": draw(st.sampled_from(list(Direction))),
                    "scoring": draw(scoring_rules),
                    "evaluation_subjects": draw(
                        st.lists(st.sampled_from(list(EvaluationSubject)), unique=True, max_size=9)
                    ),
                    **optional,
                }
            )
        )
    policy = {
        "min_public_satisfaction_share": draw(st.none() | shares),
        "max_category_share": draw(st.dictionaries(st.sampled_from(list(Category)), shares, max_size=3)),
        "min_quality_share": draw(st.none() | shares),
    }
    return FrameworkContent.model_validate(
        {
            "code": draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)),
            "name": draw(safe_text),
            "description": draw(st.none() | safe_text),
            "total_points": draw(st.decimals(min_value="0.0001", max_value=1000, places=4)),
            "policy": policy,
            "indicators": indicators,
        }
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contents(), st.sampled_from(list(CODECS)))
def test_generated_contents_round_trip(content: FrameworkContent, fmt: str) -> None:
    write, read = CODECS[fmt]
    again = read(write(content))
    assert again == content
    assert content_hash(again) == content_hash(content)
