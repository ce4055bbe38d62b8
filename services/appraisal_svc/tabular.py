"""Uploaded tables (JSON array, CSV with a header row, xlsx first sheet) turned into validated
rows, all or nothing: every error names its row (as the user sees it in the file) and column."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Sequence
from typing import Any, Literal, TypeVar

from openpyxl import load_workbook
from pydantic import BaseModel, TypeAdapter, ValidationError

from shared.errors import Unprocessable, UnsupportedMediaType

TableFormat = Literal["json", "csv", "xlsx"]
M = TypeVar("M", bound=BaseModel)
MAX_ERRORS = 200
MEDIA_TYPES: dict[str, TableFormat] = {
    "application/json": "json",
    "text/csv": "csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
}


def format_of(content_type: str, explicit: str | None) -> TableFormat:
    if explicit in ("json", "csv", "xlsx"):
        return explicit  # type: ignore[return-value]
    media = content_type.split(";")[0].strip().lower()
    if media in MEDIA_TYPES:
        return MEDIA_TYPES[media]
    raise UnsupportedMediaType("Send JSON, CSV or xlsx (by Content-Type or ?format=).")


def _refuse(message: str, row: int | None = None, column: str | None = None) -> Unprocessable:
    error: dict[str, Any] = {"field": column or "body", "message": message}
    if row is not None:
        error["row"] = row
    return Unprocessable(f"The file cannot be read: {message}", errors=[error])


def _blank(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def read_rows(data: bytes, fmt: TableFormat, *, max_rows: int) -> tuple[list[dict[str, Any]], int]:
    """The rows as dicts and the file row number of the first one (JSON: 1; CSV/xlsx: 2, after the header)."""
    if fmt == "json":
        try:
            rows = json.loads(data)
        except (ValueError, RecursionError):
            raise _refuse("not valid JSON") from None
        if isinstance(rows, dict) and isinstance(rows.get("items"), list):
            rows = rows["items"]
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise _refuse('expected a JSON array of objects (or {"items": [...]})')
        first = 1
    elif fmt == "csv":
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise _refuse("CSV must be UTF-8") from None
        reader = csv.DictReader(io.StringIO(text, newline=""))
        try:
            rows = [{k: _blank(v) for k, v in r.items() if k is not None} for r in _limited(reader, max_rows)]
        except csv.Error as exc:
            raise _refuse(f"bad CSV: {exc}", row=reader.line_num) from None
        first = 2
    else:
        rows = _xlsx_rows(data, max_rows)
        first = 2
    if len(rows) > max_rows:
        raise _refuse(f"at most {max_rows} rows per file")
    return rows, first


def _limited(reader: csv.DictReader[str], max_rows: int) -> list[dict[str | Any, str | Any]]:
    out = []
    for row in reader:
        out.append(row)
        if len(out) > max_rows:
            break
    return out


def _xlsx_rows(data: bytes, max_rows: int) -> list[dict[str, Any]]:
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        raise _refuse("not an xlsx workbook") from None
    try:
        sheet = workbook.worksheets[0]
        values = sheet.iter_rows(values_only=True)
        header = next(values, None)
        if header is None:
            return []
        names = [str(h).strip() if h is not None else "" for h in header]
        rows = []
        for raw in values:
            if all(v is None for v in raw):
                continue
            rows.append({n: _blank(v) for n, v in zip(names, raw, strict=False) if n})
            if len(rows) > max_rows:
                break
        return rows
    finally:
        workbook.close()


def validate_rows(model: type[M], rows: Sequence[dict[str, Any]], first_row: int) -> list[M]:
    """Every row validated at once; a ValidationError becomes a 422 listing (row, column) pairs."""
    try:
        return TypeAdapter(list[model]).validate_python(rows)  # type: ignore[valid-type]
    except ValidationError as exc:
        errors = []
        for err in exc.errors()[:MAX_ERRORS]:
            loc = err.get("loc", ())
            index = loc[0] if loc and isinstance(loc[0], int) else None
            column = ".".join(str(p) for p in loc[1:]) or "row"
            errors.append(
                {
                    "row": index + first_row if index is not None else None,
                    "field": column,
                    "message": err.get("msg", "invalid"),
                }
            )
        raise Unprocessable(f"The file has {exc.error_count()} error(s); nothing was stored.", errors=errors) from None


def row_errors(errors: list[dict[str, Any]], total: int | None = None) -> Unprocessable:
    count = total if total is not None else len(errors)
    return Unprocessable(f"The file has {count} error(s); nothing was stored.", errors=errors[:MAX_ERRORS])
