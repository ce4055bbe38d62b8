"""Questionnaires in the XLSForm layout Kobo and ODK users write: a ``survey`` sheet (type, name,
label, required, relevant, plus govperf's dimension, indicator_code, object_kind and grid columns),
a ``choices`` sheet (list_name, name, label) and an optional ``settings`` sheet (form_title).

Type mapping: ``select_one likert5`` is a Likert 1-5 question, ``range`` with
``start=0 end=10`` a 0-10 scale, ``select_one``/``select_multiple <list>`` choice questions,
``text`` open text. Kobo's metadata rows (start, end, deviceid ...), notes and groups are skipped.
Every problem is reported at once with its sheet, row and column."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter
from pydantic import BaseModel, ConfigDict, ValidationError

from services.survey_svc.questionnaire.content import QuestionnaireContent, QuestionType

MAX_INPUT_BYTES = 5 * 1024 * 1024
MAX_UNZIPPED_BYTES = 64 * 1024 * 1024  # a small zip can inflate enormously
MAX_ROWS = 5000
LIKERT_LIST = "likert5"
SURVEY_COLUMNS = (
    "type",
    "name",
    "label",
    "required",
    "relevant",
    "parameters",
    "dimension",
    "indicator_code",
    "object_kind",
    "grid",
)
SKIPPED_TYPES = frozenset(
    {"start", "end", "today", "deviceid", "username", "phonenumber", "audit", "note", "begin_group", "end_group"}
    | {"begin group", "end group", "begin_repeat", "end_repeat", "calculate", "simserial", "subscriberid"}
)
TRUE_WORDS = frozenset({"yes", "true", "1", "true()", "y"})
FALSE_WORDS = frozenset({"no", "false", "0", "false()", "n", ""})
EQUALS_RE = re.compile(r"^\s*\$\{([A-Za-z_][A-Za-z0-9_.\-]*)\}\s*=\s*'([^']{1,100})'\s*$")
SELECTED_RE = re.compile(r"^\s*selected\(\s*\$\{([A-Za-z_][A-Za-z0-9_.\-]*)\}\s*,\s*'([^']{1,100})'\s*\)\s*$")


class XlsFormProblem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sheet: str
    row: int | None = None
    column: str | None = None
    message: str


class XlsFormError(ValueError):
    def __init__(self, problems: list[XlsFormProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.sheet}!{p.column or ''}{p.row or ''}: {p.message}" for p in problems))


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


class _Sheet:
    """Rows of one sheet by header name, remembering where each came from."""

    def __init__(self, name: str, rows: list[tuple[Any, ...]]) -> None:
        self.name = name
        header = [_text(h).lower() for h in rows[0]] if rows else []
        # Kobo writes translated labels as "label::English (en)"; the first one wins.
        self.columns: dict[str, int] = {}
        for index, title in enumerate(header):
            self.columns.setdefault(title.split("::")[0], index)
        self.rows = [(number, row) for number, row in enumerate(rows[1:], start=2) if any(_text(v) for v in row)]

    def get(self, row: tuple[Any, ...], column: str) -> str:
        index = self.columns.get(column)
        return _text(row[index]) if index is not None and index < len(row) else ""

    def problem(self, number: int, column: str, message: str) -> XlsFormProblem:
        index = self.columns.get(column)
        return XlsFormProblem(
            sheet=self.name,
            row=number,
            column=get_column_letter(index + 1) if index is not None else column,
            message=message,
        )


def _open(data: bytes) -> Any:
    def fail(message: str) -> XlsFormError:
        return XlsFormError([XlsFormProblem(sheet="(workbook)", message=message)])

    if len(data) > MAX_INPUT_BYTES:
        raise fail(f"workbook is over {MAX_INPUT_BYTES // (1024 * 1024)} MB")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(info.file_size for info in archive.infolist()) > MAX_UNZIPPED_BYTES:
                raise fail("workbook unpacks to more than 64 MB")
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        raise fail("not an xlsx workbook (not a zip archive)") from None
    try:
        return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - openpyxl raises many unrelated types for corrupt files
        raise fail("not a readable xlsx workbook") from None


def _rows(workbook: Any, name: str, problems: list[XlsFormProblem]) -> list[tuple[Any, ...]]:
    if name not in workbook.sheetnames:
        return []
    rows: list[tuple[Any, ...]] = []
    for row in workbook[name].iter_rows(values_only=True):
        if len(rows) > MAX_ROWS:
            problems.append(XlsFormProblem(sheet=name, row=MAX_ROWS + 1, message=f"more than {MAX_ROWS} rows"))
            break
        rows.append(tuple(row))
    return rows


def from_xlsx(data: bytes) -> QuestionnaireContent:
    workbook = _open(data)
    problems: list[XlsFormProblem] = []
    try:
        survey = _Sheet("survey", _rows(workbook, "survey", problems))
        choices = _Sheet("choices", _rows(workbook, "choices", problems))
        settings = _Sheet("settings", _rows(workbook, "settings", problems))
    except Exception:  # noqa: BLE001 - a corrupt sheet part surfaces only while streaming rows
        raise XlsFormError([XlsFormProblem(sheet="(workbook)", message="not a readable xlsx workbook")]) from None
    finally:
        workbook.close()
    if "survey" not in workbook.sheetnames:
        raise XlsFormError([XlsFormProblem(sheet="survey", message="sheet 'survey' is missing")])
    for column in ("type", "name", "label"):
        if column not in survey.columns:
            problems.append(XlsFormProblem(sheet="survey", row=1, message=f"column {column!r} is missing"))
    lists: dict[str, list[dict[str, str]]] = {}
    for number, row in choices.rows:
        list_name, name, label = (choices.get(row, c) for c in ("list_name", "name", "label"))
        if not list_name or not name:
            problems.append(choices.problem(number, "list_name" if not list_name else "name", "required"))
            continue
        lists.setdefault(list_name, []).append({"name": name, "label": label or name})
    questions: list[dict[str, Any]] = []
    rows_of: list[int] = []
    for number, row in survey.rows:
        question = _question(survey, number, row, lists, problems)
        if question is not None:
            questions.append(question)
            rows_of.append(number)
    first_settings = settings.rows[0][1] if settings.rows else ()
    title = settings.get(first_settings, "form_title") or "Questionnaire"
    description = settings.get(first_settings, "description") or None
    if problems:
        raise XlsFormError(problems)
    try:
        return QuestionnaireContent.model_validate({"title": title, "description": description, "questions": questions})
    except ValidationError as exc:
        raise XlsFormError(_locate(exc, survey, rows_of)) from None


def _question(
    survey: _Sheet, number: int, row: tuple[Any, ...], lists: dict[str, list[dict[str, str]]], out: list[XlsFormProblem]
) -> dict[str, Any] | None:
    raw_type = " ".join(survey.get(row, "type").split())
    if raw_type.lower() in SKIPPED_TYPES:
        return None
    kind, _, list_name = raw_type.partition(" ")
    question: dict[str, Any] = {"name": survey.get(row, "name"), "label": survey.get(row, "label")}
    if kind in ("select_one", "select_multiple") and list_name:
        if kind == "select_one" and list_name == LIKERT_LIST:
            question["type"] = QuestionType.likert
        else:
            if list_name not in lists:
                out.append(survey.problem(number, "type", f"choice list {list_name!r} is not on the choices sheet"))
                return None
            question["type"] = QuestionType.single_choice if kind == "select_one" else QuestionType.multiple_choice
            question["choices"] = lists[list_name]
            question["choice_list"] = None if list_name == question["name"] else list_name
    elif kind == "range":
        parameters = dict(p.split("=", 1) for p in survey.get(row, "parameters").split() if "=" in p)
        if (parameters.get("start", "0"), parameters.get("end", "10"), parameters.get("step", "1")) != ("0", "10", "1"):
            out.append(survey.problem(number, "parameters", "only the 0-10 range (start=0 end=10 step=1) is supported"))
            return None
        question["type"] = QuestionType.scale_0_10
    elif kind == "text":
        question["type"] = QuestionType.text
    else:
        out.append(survey.problem(number, "type", f"unsupported question type {raw_type!r}"))
        return None
    required = survey.get(row, "required").lower()
    if required not in TRUE_WORDS | FALSE_WORDS:
        out.append(survey.problem(number, "required", "must be yes or no"))
    question["required"] = required in TRUE_WORDS
    relevant = survey.get(row, "relevant")
    if relevant:
        match = EQUALS_RE.match(relevant) or SELECTED_RE.match(relevant)
        if match is None:
            out.append(
                survey.problem(number, "relevant", "only ${question} = 'value' or selected(${question}, 'value')")
            )
        else:
            question["show_if"] = {"question": match.group(1), "equals": match.group(2)}
    for column in ("dimension", "indicator_code", "object_kind", "grid"):
        if value := survey.get(row, column):
            question[column] = value
    return question


def _locate(exc: ValidationError, survey: _Sheet, rows_of: list[int]) -> list[XlsFormProblem]:
    """Map pydantic's locations (and the content rules' "questions[i].field" texts) to cells."""
    problems = []
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        if len(loc) >= 2 and loc[0] == "questions" and isinstance(loc[1], int) and loc[1] < len(rows_of):
            column = str(loc[2]) if len(loc) > 2 else "name"
            problems.append(survey.problem(rows_of[loc[1]], column, error["msg"]))
            continue
        for part in str(error["msg"]).removeprefix("Value error, ").split("; "):
            match = re.match(r"questions\[(\d+)\]\.(\w+): (.*)", part)
            if match and int(match.group(1)) < len(rows_of):
                column = {"choices": "type", "show_if": "relevant"}.get(match.group(2), match.group(2))
                problems.append(survey.problem(rows_of[int(match.group(1))], column, match.group(3)))
            else:
                problems.append(XlsFormProblem(sheet="survey", message=part))
    return problems


def to_xlsx(content: QuestionnaireContent) -> bytes:
    workbook = Workbook(write_only=True)
    survey = workbook.create_sheet("survey")
    survey.append(list(SURVEY_COLUMNS))
    choice_rows: dict[str, list[list[str]]] = {}
    for q in content.questions:
        if q.type == QuestionType.likert:
            kind = f"select_one {LIKERT_LIST}"
            choice_rows.setdefault(LIKERT_LIST, [[LIKERT_LIST, str(v), str(v)] for v in range(1, 6)])
        elif q.type == QuestionType.scale_0_10:
            kind = "range"
        elif q.type == QuestionType.text:
            kind = "text"
        else:
            list_name = q.choice_list or q.name
            kind = f"{'select_one' if q.type == QuestionType.single_choice else 'select_multiple'} {list_name}"
            choice_rows.setdefault(list_name, [[list_name, c.name, c.label] for c in q.choices])
        relevant = ""
        if q.show_if is not None:
            target = content.question(q.show_if.question)
            multiple = target is not None and target.type == QuestionType.multiple_choice
            name, value = q.show_if.question, q.show_if.equals
            relevant = f"selected(${{{name}}}, '{value}')" if multiple else f"${{{name}}} = '{value}'"
        survey.append(
            [
                kind,
                q.name,
                q.label,
                "yes" if q.required else "",
                relevant,
                "start=0 end=10 step=1" if q.type == QuestionType.scale_0_10 else "",
                q.dimension or "",
                q.indicator_code or "",
                q.object_kind or "",
                q.grid or "",
            ]
        )
    choices = workbook.create_sheet("choices")
    choices.append(["list_name", "name", "label"])
    for rows in choice_rows.values():
        for row in rows:
            choices.append(row)
    settings = workbook.create_sheet("settings")
    settings.append(["form_title", "description"])
    settings.append([content.title, content.description or ""])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
