"""Pure rules of questionnaires: checking a respondent's answers, scoring rated answers 0-100."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from services.survey_svc.questionnaire.content import CHOICE, RATED, Question, QuestionnaireContent, QuestionType

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
    return _rule(question)(value)


Rule = Callable[[Any], "str | None"]


def _rule(question: Question) -> Rule:
    """``answer_problem`` for one question, with what it needs worked out once."""
    kind = question.type
    if kind in RATED:
        low, high = (1, 5) if kind == QuestionType.likert else (0, 10)
        out_of_range = f"must be a whole number from {low} to {high}"

        def rated(value: Any) -> str | None:
            # bool is an int in Python; true is not a rating.
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                return out_of_range
            return None

        return rated
    if kind == QuestionType.text:

        def text(value: Any) -> str | None:
            if not isinstance(value, str) or len(value) > MAX_TEXT_ANSWER:
                return f"must be text of at most {MAX_TEXT_ANSWER} characters"
            if "\x00" in value:  # PostgreSQL text and jsonb cannot hold it
                return "must not contain NUL characters"
            return None

        return text
    names = frozenset(c.name for c in question.choices)
    if kind == QuestionType.single_choice:
        return lambda value: None if isinstance(value, str) and value in names else "must be one of the listed choices"

    def multiple(value: Any) -> str | None:
        if (
            not isinstance(value, list)
            or not value
            or len(value) > len(names)
            or len(set(map(str, value))) != len(value)
            or not all(isinstance(v, str) and v in names for v in value)
        ):
            return "must be a list of distinct listed choices"
        return None

    return multiple


@dataclass(frozen=True)
class AnswerChecker:
    """A questionnaire's answer rules worked out once (``checker`` keeps one per content): every
    problem as ``answer_problems`` names it and the stored form ``clean_answers`` makes, in one
    pass over the questions."""

    names: frozenset[str]
    questions: tuple[tuple[Question, Rule], ...]

    @classmethod
    def of(cls, content: QuestionnaireContent) -> AnswerChecker:
        return cls(frozenset(q.name for q in content.questions), tuple((q, _rule(q)) for q in content.questions))

    def check(self, answers: Mapping[str, Any]) -> tuple[list[dict[str, str]], dict[str, Any]]:
        """The problems (empty when the response is valid) and the answers to store."""
        problems = [
            {"field": f"answers.{name[:64]}", "message": "no such question in this questionnaire"}
            for name in answers
            if name not in self.names
        ]
        clean: dict[str, Any] = {}
        for q, rule in self.questions:
            value = answers.get(q.name)
            shown = q.show_if is None or is_shown(q, answers)
            if value is None or value == "" or value == []:
                if q.required and shown:
                    problems.append({"field": f"answers.{q.name}", "message": "this question requires an answer"})
                continue
            clean[q.name] = value
            if not shown:
                problems.append({"field": f"answers.{q.name}", "message": "answered, but the question is not shown"})
                continue
            message = rule(value)
            if message is not None:
                problems.append({"field": f"answers.{q.name}", "message": message})
        return problems, clean


# Contents by identity, each kept alive by its entry (so its id is not reused while cached);
# published contents are few and long-lived, the bound only stops a churn of drafts.
_CHECKERS: OrderedDict[int, tuple[QuestionnaireContent, AnswerChecker]] = OrderedDict()
MAX_CHECKERS = 256


def checker(content: QuestionnaireContent) -> AnswerChecker:
    """The content's ``AnswerChecker``, built on first use."""
    found = _CHECKERS.get(id(content))
    if found is not None and found[0] is content:
        return found[1]
    made = AnswerChecker.of(content)
    _CHECKERS[id(content)] = (content, made)
    if len(_CHECKERS) > MAX_CHECKERS:
        _CHECKERS.popitem(last=False)
    return made


def answer_problems(content: QuestionnaireContent, answers: Mapping[str, Any]) -> list[dict[str, str]]:
    """Every problem of a response at once, each naming its question (``answers.<name>``)."""
    return checker(content).check(answers)[0]


def clean_answers(content: QuestionnaireContent, answers: Mapping[str, Any]) -> dict[str, Any]:
    """The stored form: empty answers dropped, in questionnaire order."""
    return checker(content).check(answers)[1]


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
