"""The answer rules are worked out once per questionnaire (``logic.checker``) and check and clean
a response in one pass: for any response they must name exactly the problems, and store exactly
the answers, that the rules read question by question do (the reference below, as intake checked
before)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.survey_svc.questionnaire import logic
from services.survey_svc.questionnaire.content import Question, QuestionnaireContent, QuestionType
from tests.survey_svc.support import CONTENT

QUESTIONNAIRE = QuestionnaireContent.model_validate(CONTENT)


def reference_problem(q: Question, value: Any) -> str | None:
    if q.type in (QuestionType.likert, QuestionType.scale_0_10):
        low, high = (1, 5) if q.type == QuestionType.likert else (0, 10)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            return f"must be a whole number from {low} to {high}"
        return None
    if q.type == QuestionType.text:
        if not isinstance(value, str) or len(value) > logic.MAX_TEXT_ANSWER:
            return f"must be text of at most {logic.MAX_TEXT_ANSWER} characters"
        return "must not contain NUL characters" if "\x00" in value else None
    names = {c.name for c in q.choices}
    if q.type == QuestionType.single_choice:
        return None if isinstance(value, str) and value in names else "must be one of the listed choices"
    if (
        not isinstance(value, list)
        or not value
        or len(value) > len(names)
        or len(set(map(str, value))) != len(value)
        or not all(isinstance(v, str) and v in names for v in value)
    ):
        return "must be a list of distinct listed choices"
    return None


def reference(content: QuestionnaireContent, answers: dict[str, Any]) -> tuple[list[dict[str, str]], dict[str, Any]]:
    names = {q.name for q in content.questions}
    problems = [
        {"field": f"answers.{n[:64]}", "message": "no such question in this questionnaire"}
        for n in answers
        if n not in names
    ]
    for q in content.questions:
        shown, value = logic.is_shown(q, answers), answers.get(q.name)
        if value is None or value == "" or value == []:
            if q.required and shown:
                problems.append({"field": f"answers.{q.name}", "message": "this question requires an answer"})
            continue
        if not shown:
            problems.append({"field": f"answers.{q.name}", "message": "answered, but the question is not shown"})
            continue
        message = reference_problem(q, value)
        if message is not None:
            problems.append({"field": f"answers.{q.name}", "message": message})
    clean = {q.name: answers[q.name] for q in content.questions if answers.get(q.name) not in (None, "", [])}
    return problems, clean


choice_names = st.sampled_from(["yes", "no", "phone", "web", "post"])
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-2, max_value=12),
    st.floats(allow_nan=False),
    st.just(""),
    choice_names,
    st.text(max_size=8),
    st.lists(st.one_of(choice_names, st.integers(0, 3)), max_size=4),
)
question_names = st.sampled_from([q.name for q in QUESTIONNAIRE.questions] + ["nonsense", "x" * 80])


@settings(max_examples=400)
@given(st.dictionaries(question_names, values, max_size=12))
def test_the_checker_names_and_stores_what_the_rules_do(answers: dict[str, Any]) -> None:
    assert logic.checker(QUESTIONNAIRE).check(answers) == reference(QUESTIONNAIRE, answers)
    assert logic.answer_problems(QUESTIONNAIRE, answers) == reference(QUESTIONNAIRE, answers)[0]


def test_one_checker_per_content_and_none_shared_between_contents() -> None:
    again = QuestionnaireContent.model_validate(CONTENT)
    assert logic.checker(QUESTIONNAIRE) is logic.checker(QUESTIONNAIRE)
    assert logic.checker(again) is not logic.checker(QUESTIONNAIRE)
