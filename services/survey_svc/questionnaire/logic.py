"""Pure rules of questionnaires: checking a respondent's answers, scoring rated answers 0-100."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.survey_svc.questionnaire.content import CHOICE, Question, QuestionnaireContent, QuestionType

MAX_TEXT_ANSWER = 4000


def is_shown(question: Question, answers: Mapping[str, Any]) -> bool:
    if question.show_if is None:
        return True
    given = answers.get(question.show_if.question)
    if isinstance(given, list):
        return question.show_if.equals in given
    return given is not None and str(given) == question.show_if.equals


def answer_problem(question: Question, value: Any) -> str | None:
    """Why ``value`` is not a valid answer to ``question``, or None."""
    kind = question.type
    if kind in (QuestionType.likert, QuestionType.scale_0_10):
        low, high = (1, 5) if kind == QuestionType.likert else (0, 10)
        # bool is an int in Python; true is not a rating.
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            return f"must be a whole number from {low} to {high}"
        return None
    if kind == QuestionType.text:
        if not isinstance(value, str) or len(value) > MAX_TEXT_ANSWER:
            return f"must be text of at most {MAX_TEXT_ANSWER} characters"
        if "\x00" in value:  # PostgreSQL text and jsonb cannot hold it
            return "must not contain NUL characters"
        return None
    names = {c.name for c in question.choices}
    if kind == QuestionType.single_choice:
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


def answer_problems(content: QuestionnaireContent, answers: Mapping[str, Any]) -> list[dict[str, str]]:
    """Every problem of a response at once, each naming its question (``answers.<name>``)."""
    problems = []
    names = {q.name for q in content.questions}  # one set, not a scan of the questions per answer
    for name in answers:
        if name not in names:
            problems.append({"field": f"answers.{name[:64]}", "message": "no such question in this questionnaire"})
    for q in content.questions:
        shown, value = is_shown(q, answers), answers.get(q.name)
        if value is None or value == "" or value == []:
            if q.required and shown:
                problems.append({"field": f"answers.{q.name}", "message": "this question requires an answer"})
            continue
        if not shown:
            problems.append({"field": f"answers.{q.name}", "message": "answered, but the question is not shown"})
            continue
        message = answer_problem(q, value)
        if message is not None:
            problems.append({"field": f"answers.{q.name}", "message": message})
    return problems


def clean_answers(content: QuestionnaireContent, answers: Mapping[str, Any]) -> dict[str, Any]:
    """The stored form: empty answers dropped, in questionnaire order."""
    return {q.name: answers[q.name] for q in content.questions if answers.get(q.name) not in (None, "", [])}


def from_form(content: QuestionnaireContent, form: Mapping[str, list[str]]) -> dict[str, Any]:
    """Answers of an HTML form post (every value a string) in the JSON shape; a value that is not
    a number stays a string so that the ordinary check names it."""
    answers: dict[str, Any] = {}
    for q in content.questions:
        values = [v for v in form.get(q.name, []) if v != ""]
        if not values:
            continue
        if q.type == QuestionType.multiple_choice:
            answers[q.name] = values
        elif q.type in CHOICE or q.type == QuestionType.text:
            answers[q.name] = values[0]
        else:
            answers[q.name] = int(values[0]) if values[0].strip().lstrip("-").isdigit() else values[0]
    return answers


def score(question: Question, value: int) -> float:
    """A rated answer on the 0-100 index scale: Likert (x-1)/4 x 100, 0-10 x 10."""
    return (value - 1) * 25.0 if question.type == QuestionType.likert else value * 10.0
