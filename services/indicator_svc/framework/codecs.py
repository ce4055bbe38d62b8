"""Import and export of framework content as JSON, YAML and Excel (bytes in, bytes out).

Every reader turns any bytes into either a FrameworkContent or a CodecError listing
all problems found, each with a location a person can find in the file.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import yaml
from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import Cell
from openpyxl.utils import get_column_letter
from pydantic import BaseModel, ConfigDict, ValidationError

from contracts.scoring import SCORING_METHODS
from services.indicator_svc.framework.content import FrameworkContent, IndicatorSpec

FORMAT = "govperf.framework/v1"
MAX_INPUT_BYTES = 5 * 1024 * 1024
MAX_XLSX_ROWS = 5000
# A small zip can inflate enormously; real framework workbooks stay far below this.
MAX_XLSX_UNZIPPED_BYTES = 64 * 1024 * 1024
FRAMEWORK_SHEET = "framework"
INDICATORS_SHEET = "indicators"
FRAMEWORK_KEYS = ("format", "code", "name", "description", "total_points", "policy")
INDICATOR_COLUMNS = (
    "code",
    "parent_code",
    "name",
    "weight",
    "category",
    "nature_tags",
    "kind",
    "direction",
    "unit",
    "scoring_method",
    "scoring_params",
    "evaluation_subjects",
    "data_source",
    "formula",
    "responsible_unit",
    "legal_basis",
    "description",
)
LIST_COLUMNS = frozenset({"nature_tags", "evaluation_subjects"})
REQUIRED_COLUMNS = ("code", "name", "weight")
Row = tuple[object, ...]


class CodecErrorItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    location: str
    message: str
    line: int | None = None  # YAML/JSON: 1-based line, when known
    sheet: str | None = None  # xlsx only
    row: int | None = None
    column: str | None = None
    header: str | None = None


class CodecError(ValueError):
    def __init__(self, errors: list[CodecErrorItem]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.location}: {e.message}" for e in errors))


# --- document (JSON and YAML) -----------------------------------------------------


def _document(content: FrameworkContent) -> dict[str, Any]:
    framework = content.model_dump(mode="json", exclude={"indicators"})
    # Indicator fields that are None are all optional with a None default: omit them.
    indicators = [i.model_dump(mode="json", exclude_none=True) for i in content.indicators]
    return {"format": FORMAT, "framework": framework, "indicators": indicators}


def to_json(content: FrameworkContent) -> bytes:
    return json.dumps(_document(content), ensure_ascii=False, indent=2).encode()


def to_yaml(content: FrameworkContent) -> bytes:
    text = yaml.dump(_document(content), Dumper=_SafeDumper, allow_unicode=True, sort_keys=False)
    return text.encode()


Path = tuple[str | int, ...]


def _path_text(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(document)"


def _document_path(loc: Sequence[str | int]) -> Path:
    """Where a FrameworkContent validation error sits in the document layout."""
    path = list(loc)
    # A discriminated union puts the method name into the location; files don't.
    if len(path) >= 4 and path[2] == "scoring" and path[3] in SCORING_METHODS:
        del path[3]
    if path and path[0] == "indicators":
        return tuple(path)
    return ("framework", *path)


def _validation_items(error: ValidationError, lines: Mapping[Path, int]) -> list[CodecErrorItem]:
    items = []
    for e in error.errors(include_url=False):
        path = _document_path(e["loc"])
        items.append(CodecErrorItem(location=_path_text(path), message=e["msg"], line=_line_of(path, lines)))
    return items


def _line_of(path: Path, lines: Mapping[Path, int]) -> int | None:
    """Line of the path, or of its nearest ancestor that exists in the file."""
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def _from_document(document: Any, lines: Mapping[Path, int]) -> FrameworkContent:
    def item(path: Path, message: str) -> CodecErrorItem:
        return CodecErrorItem(location=_path_text(path), message=message, line=_line_of(path, lines))

    if not isinstance(document, dict):
        raise CodecError([item((), "the document must be a mapping")])
    errors: list[CodecErrorItem] = []
    if document.get("format") != FORMAT:
        message = f"format must be {FORMAT!r}, got {document.get('format')!r}"
        errors.append(item(("format",), message))
    for key in document:
        if key not in ("format", "framework", "indicators"):
            errors.append(item((str(key),), "unknown key"))
    framework = document.get("framework")
    if not isinstance(framework, dict):
        errors.append(item(("framework",), "framework must be a mapping"))
        framework = {}
    indicators = document.get("indicators", [])
    if not isinstance(indicators, list):
        errors.append(item(("indicators",), "indicators must be a list"))
        indicators = []
    if "indicators" in framework:
        errors.append(item(("framework", "indicators"), "unknown key"))
    try:
        content = FrameworkContent.model_validate({**framework, "indicators": indicators})
    except ValidationError as e:
        errors += _validation_items(e, lines)
    if errors:
        raise CodecError(errors)
    return content


def _checked_text(data: bytes) -> str:
    if len(data) > MAX_INPUT_BYTES:
        limit = f"{MAX_INPUT_BYTES // (1024 * 1024)} MB"
        raise CodecError([CodecErrorItem(location="(document)", message=f"over {limit}")])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise CodecError([CodecErrorItem(location=f"byte {e.start}", message="not valid UTF-8")]) from None


def from_json(data: bytes) -> FrameworkContent:
    text = _checked_text(data)
    try:
        document = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as e:
        location = f"line {e.lineno} column {e.colno}"
        item = CodecErrorItem(location=location, message=e.msg, line=e.lineno)
        raise CodecError([item]) from None
    except RecursionError:
        raise CodecError([_too_deep()]) from None
    except ValueError as e:  # e.g. an integer longer than Python converts
        item = CodecErrorItem(location="(document)", message=str(e))
        raise CodecError([item]) from None
    return _from_document(document, {})


def _too_deep() -> CodecErrorItem:
    return CodecErrorItem(location="(document)", message="nested too deeply")


# libyaml when the wheel has it: the pure-Python parser took 1.7 s for 2000 indicators.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SafeDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _refuse_aliases(text: str) -> None:
    """No alias may appear, so no alias bomb can expand in validation (a cheap event pass)."""
    for event in yaml.parse(text, Loader=_SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            mark: Any = event.start_mark  # libyaml's Mark carries the same line and column
            raise yaml.composer.ComposerError(None, None, "aliases are not allowed", mark)


def _node_lines(node: yaml.Node, path: Path, lines: dict[Path, int]) -> None:
    """Record the 1-based line of every mapping value and sequence item by its path."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                lines[(*path, key.value)] = key.start_mark.line + 1
                _node_lines(value, (*path, key.value), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _node_lines(item, (*path, index), lines)


def _parse_yaml(text: str) -> tuple[Any, dict[Path, int]]:
    """The document and the line of every path in it."""
    loader = None
    try:
        _refuse_aliases(text)
        loader = _SafeLoader(text)
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: dict[Path, int] = {}
        _node_lines(node, (), lines)
        return loader.construct_document(node), lines
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        location = f"line {line}" if line is not None else "(document)"
        message = str(e.problem or e.context or "invalid YAML")
        item = CodecErrorItem(location=location, message=message, line=line)
        raise CodecError([item]) from None
    except yaml.YAMLError as e:  # e.g. a control character the reader refuses
        item = CodecErrorItem(location="(document)", message=str(e))
        raise CodecError([item]) from None
    except RecursionError:
        raise CodecError([_too_deep()]) from None
    except (ValueError, OverflowError) as e:  # e.g. a timestamp like 2024-13-45
        item = CodecErrorItem(location="(document)", message=f"invalid value: {e}")
        raise CodecError([item]) from None
    finally:
        if loader is not None:
            loader.dispose()


def from_yaml(data: bytes) -> FrameworkContent:
    document, lines = _parse_yaml(_checked_text(data))
    return _from_document(document, lines)


# --- Excel workbook -------------------------------------------------------------


def _write_text_row(sheet: Any, values: Iterable[str | None]) -> None:
    # Cells are made before appending: looking the row up afterwards (sheet[sheet.max_row]) scans
    # every cell of the sheet, which made a 2000-row export quadratic.
    cells = []
    for value in values:
        cell = Cell(sheet, value=value)
        if value is not None:
            # Text, never a formula: "=..." in a formula field must round-trip as is.
            cell.data_type = "s"
            cell.number_format = "@"
        cells.append(cell)
    sheet.append(cells)


def _joined(values: list[str]) -> str | None:
    return ", ".join(values) or None


def _indicator_row(indicator: IndicatorSpec) -> list[str | None]:
    data = indicator.model_dump(mode="json")
    scoring = data.pop("scoring")
    method = scoring.pop("method") if scoring else None
    cells: dict[str, str | None] = {
        "scoring_method": method,
        "scoring_params": json.dumps(scoring, ensure_ascii=False) if scoring else None,
        "nature_tags": _joined(data["nature_tags"]),
        "evaluation_subjects": _joined(data["evaluation_subjects"]),
    }
    return [cells[c] if c in cells else data[c] for c in INDICATOR_COLUMNS]


def to_xlsx(content: FrameworkContent) -> bytes:
    workbook = Workbook()
    framework_sheet = workbook.active
    assert framework_sheet is not None  # a new Workbook always has one sheet
    framework_sheet.title = FRAMEWORK_SHEET
    framework = content.model_dump(mode="json", exclude={"indicators"})
    values = {
        **framework,
        "format": FORMAT,
        "policy": json.dumps(framework["policy"], ensure_ascii=False),
    }
    for key in FRAMEWORK_KEYS:
        _write_text_row(framework_sheet, [key, values[key]])
    indicator_sheet = workbook.create_sheet(INDICATORS_SHEET)
    _write_text_row(indicator_sheet, INDICATOR_COLUMNS)
    for indicator in content.indicators:
        _write_text_row(indicator_sheet, _indicator_row(indicator))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _cell_text(value: object) -> str | None:
    """Cell value as text; numbers typed into Excel become their shortest decimal."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return str(Decimal(repr(value)).normalize()) if math.isfinite(value) else repr(value)
    text = str(value).strip()
    return text or None


def _xlsx_item(sheet: str, row: int, column: int | None, header: str | None, message: str) -> CodecErrorItem:
    letter = get_column_letter(column) if column is not None else None
    cell = f"{letter}{row}" if letter else f"row {row}"
    where = f"{sheet}!{cell}" + (f" ({header})" if header else "")
    return CodecErrorItem(
        location=where,
        message=message,
        sheet=sheet,
        row=row,
        column=letter,
        header=header,
    )


def _open_workbook(data: bytes) -> Any:
    def fail(message: str) -> CodecError:
        return CodecError([CodecErrorItem(location="(workbook)", message=message)])

    if len(data) > MAX_INPUT_BYTES:
        raise fail(f"workbook is over {MAX_INPUT_BYTES // (1024 * 1024)} MB")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unzipped = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        raise fail("not an xlsx workbook (not a zip archive)") from None
    if unzipped > MAX_XLSX_UNZIPPED_BYTES:
        raise fail("workbook unpacks to more than 64 MB")
    try:
        return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    # openpyxl raises many unrelated types for corrupt files; all mean "unreadable".
    except Exception:  # noqa: BLE001
        raise fail("not a readable xlsx workbook") from None


def _sheet_rows(workbook: Any, name: str, errors: list[CodecErrorItem]) -> list[Row]:
    if name not in workbook.sheetnames:
        errors.append(CodecErrorItem(location=name, message=f"sheet {name!r} is missing"))
        return []
    rows: list[Row] = []
    for row in workbook[name].iter_rows(values_only=True):
        if len(rows) >= MAX_XLSX_ROWS:
            message = f"sheet has more than {MAX_XLSX_ROWS} rows"
            errors.append(_xlsx_item(name, MAX_XLSX_ROWS + 1, None, None, message))
            break
        rows.append(tuple(row))
    return rows


def _read_framework_sheet(rows: list[Row], errors: list[CodecErrorItem]) -> tuple[dict[str, Any], dict[str, int]]:
    """Framework fields and the worksheet row each one came from."""
    fields: dict[str, Any] = {}
    row_of: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        key = _cell_text(row[0]) if row else None
        value = _cell_text(row[1]) if len(row) > 1 else None
        if key is None:
            continue
        if key not in FRAMEWORK_KEYS or key in fields:
            problem = "unknown key" if key not in FRAMEWORK_KEYS else "repeated key"
            errors.append(_xlsx_item(FRAMEWORK_SHEET, number, 1, None, f"{problem} {key!r}"))
            continue
        row_of[key] = number
        if key == "policy" and value is not None:
            try:
                value = json.loads(value, parse_float=Decimal)
            except json.JSONDecodeError as e:
                message = f"policy is not valid JSON: {e.msg}"
                errors.append(_xlsx_item(FRAMEWORK_SHEET, number, 2, "policy", message))
                continue
        fields[key] = value
    if fields.pop("format", FORMAT) != FORMAT:
        message = f"format must be {FORMAT!r}"
        errors.append(_xlsx_item(FRAMEWORK_SHEET, row_of["format"], 2, "format", message))
    return fields, row_of


def _read_header(row: Row, errors: list[CodecErrorItem]) -> dict[str, int]:
    """Column index (1-based) of every known header."""
    columns: dict[str, int] = {}
    for index, value in enumerate(row, start=1):
        header = _cell_text(value)
        if header is None:
            continue
        header = header.lower()
        if header not in INDICATOR_COLUMNS or header in columns:
            problem = "unknown column" if header not in INDICATOR_COLUMNS else "repeated column"
            errors.append(_xlsx_item(INDICATORS_SHEET, 1, index, header, problem))
            continue
        columns[header] = index
    for required in REQUIRED_COLUMNS:
        if required not in columns:
            message = f"required column {required!r} is missing"
            errors.append(_xlsx_item(INDICATORS_SHEET, 1, None, required, message))
    return columns


def _row_fields(row: Row, number: int, columns: Mapping[str, int], errors: list[CodecErrorItem]) -> dict[str, Any]:
    cells = {header: _cell_text(row[index - 1]) if index - 1 < len(row) else None for header, index in columns.items()}
    fields: dict[str, Any] = {
        header: value
        for header, value in cells.items()
        if value is not None and header not in ("scoring_method", "scoring_params")
    }
    for header in LIST_COLUMNS & fields.keys():
        fields[header] = [part.strip() for part in fields[header].split(",") if part.strip()]
    method, raw_params = cells.get("scoring_method"), cells.get("scoring_params")
    if method is None and raw_params is None:
        return fields
    params: Any = {}
    if raw_params is not None:
        try:
            params = json.loads(raw_params, parse_float=Decimal)
        except json.JSONDecodeError as e:
            params = None
            message = f"not valid JSON: {e.msg}"
            column = columns["scoring_params"]
            errors.append(_xlsx_item(INDICATORS_SHEET, number, column, "scoring_params", message))
    if isinstance(params, dict):
        fields["scoring"] = {**params, "method": method}
    elif params is not None:
        message = "scoring_params must be a JSON object"
        column = columns["scoring_params"]
        errors.append(_xlsx_item(INDICATORS_SHEET, number, column, "scoring_params", message))
    return fields


def _header_for_error(loc: Sequence[str | int]) -> str:
    field = str(loc[0]) if loc else "code"
    if field != "scoring":
        return field
    # The union tag is reported as the method column, everything else as the params.
    is_tag_error = len(loc) == 1 or loc[1] not in SCORING_METHODS
    return "scoring_method" if is_tag_error else "scoring_params"


def _read_indicator(
    row: Row, number: int, columns: Mapping[str, int], errors: list[CodecErrorItem]
) -> IndicatorSpec | None:
    before = len(errors)
    fields = _row_fields(row, number, columns, errors)
    try:
        indicator = IndicatorSpec.model_validate(fields)
    except ValidationError as e:
        for error in e.errors(include_url=False):
            header = _header_for_error(error["loc"])
            detail = ".".join(str(p) for p in error["loc"][1:] if p not in SCORING_METHODS)
            message = f"{detail}: {error['msg']}" if detail else error["msg"]
            errors.append(_xlsx_item(INDICATORS_SHEET, number, columns.get(header), header, message))
        return None
    return indicator if len(errors) == before else None


def from_xlsx(data: bytes) -> FrameworkContent:
    workbook = _open_workbook(data)
    errors: list[CodecErrorItem] = []
    try:
        framework_rows = _sheet_rows(workbook, FRAMEWORK_SHEET, errors)
        indicator_rows = _sheet_rows(workbook, INDICATORS_SHEET, errors)
    # A corrupt sheet part surfaces only while streaming rows, with the same many types.
    except Exception:  # noqa: BLE001
        raise CodecError([CodecErrorItem(location="(workbook)", message="not a readable xlsx workbook")]) from None
    finally:
        workbook.close()
    framework, row_of = _read_framework_sheet(framework_rows, errors)
    indicators: list[IndicatorSpec] = []
    if indicator_rows:
        columns = _read_header(indicator_rows[0], errors)
        for number, row in enumerate(indicator_rows[1:], start=2):
            if all(_cell_text(value) is None for value in row):
                continue
            indicator = _read_indicator(row, number, columns, errors)
            if indicator is not None:
                indicators.append(indicator)
    try:
        content = FrameworkContent.model_validate({**framework, "indicators": indicators})
    except ValidationError as e:
        for error in e.errors(include_url=False):
            key = str(error["loc"][0])
            if key == "indicators":
                location = _xlsx_item(INDICATORS_SHEET, 1, None, None, error["msg"])
            else:
                key_row = row_of.get(key)
                detail = ".".join(str(p) for p in error["loc"][1:])
                message = f"{detail}: {error['msg']}" if detail else error["msg"]
                location = (
                    _xlsx_item(FRAMEWORK_SHEET, key_row, 2, key, message)
                    if key_row is not None
                    else CodecErrorItem(location=f"{FRAMEWORK_SHEET}!{key}", message=message)
                )
            errors.append(location)
    if errors:
        raise CodecError(errors)
    return content
