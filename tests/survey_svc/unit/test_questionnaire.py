"""XLSForm round trip and error locations; checking a respondent's answers."""

import io

import pytest
from openpyxl import Workbook

from services.survey_svc.questionnaire import logic, xlsform
from services.survey_svc.questionnaire.content import QuestionnaireContent
from tests.survey_svc.support import CONTENT, good_answers


def workbook(survey_rows, choices_rows=()) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = "survey"
    for row in survey_rows:
        sheet.append(list(row))
    choices = book.create_sheet("choices")
    choices.append(["list_name", "name", "label"])
    for row in choices_rows:
        choices.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsform_round_trip_gives_identical_content() -> None:
    content = QuestionnaireContent.model_validate(CONTENT)
    assert xlsform.from_xlsx(xlsform.to_xlsx(content)) == content


def test_a_kobo_style_form_imports_and_skips_metadata_rows() -> None:
    data = workbook(
        [
            ("type", "name", "label::English (en)", "required", "relevant", "dimension"),
            ("start", "start", "", "", "", ""),
            ("select_one likert5", "q1", "Roads", "yes", "", "infrastructure"),
            ("select_one yn", "visited", "Visited?", "", "", ""),
            ("range", "q2", "Overall", "", "${visited} = 'y'", "overall"),
        ],
        [("yn", "y", "Yes"), ("yn", "n", "No")],
    )
    content = xlsform.from_xlsx(data)
    assert [q.name for q in content.questions] == ["q1", "visited", "q2"]
    assert content.questions[0].required and content.questions[2].show_if is not None


def test_errors_name_sheet_row_and_column() -> None:
    data = workbook(
        [
            ("type", "name", "label", "required", "dimension"),
            ("select_one likert5", "q1", "Roads", "maybe", "infra"),
            ("select_one nolist", "q2", "X", "", ""),
            ("geopoint", "q3", "Where", "", ""),
            ("select_one likert5", "q4", "Parks", "", ""),
        ]
    )
    with pytest.raises(xlsform.XlsFormError) as caught:
        xlsform.from_xlsx(data)
    where = {(p.sheet, p.row, p.column) for p in caught.value.problems}
    assert ("survey", 2, "D") in where  # required: maybe
    assert ("survey", 3, "A") in where  # unknown list
    assert ("survey", 4, "A") in where  # unsupported type
    with pytest.raises(xlsform.XlsFormError) as caught:
        xlsform.from_xlsx(workbook([("type", "name", "label", "dimension"), ("select_one likert5", "q4", "P", "")]))
    assert any(p.row == 2 and "dimension" in p.message for p in caught.value.problems)


def test_not_a_workbook_is_refused_with_a_reason() -> None:
    with pytest.raises(xlsform.XlsFormError, match="not an xlsx"):
        xlsform.from_xlsx(b"hello")


def test_answer_checks_name_each_problem() -> None:
    content = QuestionnaireContent.model_validate(CONTENT)
    assert logic.answer_problems(content, good_answers()) == []
    problems = logic.answer_problems(content, {**good_answers(), "g1": True, "overall": 11, "contact": "maybe"})
    assert {p["field"] for p in problems} == {"answers.g1", "answers.overall", "answers.contact"}
    missing = logic.answer_problems(content, {"overall": 5})
    assert {p["field"] for p in missing} == {f"answers.g{i}" for i in range(1, 6)}
