"""What a questionnaire says: its questions, their choices, show-if conditions and what each rated
question measures. Validated as a whole (every problem at once, by question)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_.\-]*$")]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
Label = Annotated[str, Field(min_length=1, max_length=2000)]
MAX_QUESTIONS = 300
MAX_CHOICES = 100


class QuestionType(StrEnum):
    likert = "likert"  # 1-5
    scale_0_10 = "scale_0_10"
    single_choice = "single_choice"
    multiple_choice = "multiple_choice"
    text = "text"


RATED = frozenset({QuestionType.likert, QuestionType.scale_0_10})
CHOICE = frozenset({QuestionType.single_choice, QuestionType.multiple_choice})
# Smallest grid on which identical answers count as straight-lining (issue 10: "a grid of 5 or more").
MIN_GRID_SIZE = 5


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Choice(_Model):
    name: Code
    label: Label


class ShowIf(_Model):
    """Show the question only when an earlier question's answer is (or, for multiple choice, includes) ``equals``."""

    question: Name
    equals: Annotated[str, Field(min_length=1, max_length=100)]


class Question(_Model):
    name: Name
    type: QuestionType
    label: Label
    required: bool = False
    choices: list[Choice] = Field(default_factory=list, max_length=MAX_CHOICES)
    choice_list: Code | None = Field(default=None, description="The XLSForm list the choices come from.")
    show_if: ShowIf | None = None
    dimension: Code | None = Field(default=None, description="The satisfaction dimension a rated question measures.")
    indicator_code: Code | None = Field(default=None, description="The appraisal indicator the dimension feeds.")
    object_kind: Code | None = Field(default=None, description="What kind of object it rates, e.g. district_gov.")
    grid: Code | None = Field(default=None, description="Rated questions sharing a grid are shown as one matrix.")


class QuestionnaireContent(_Model):
    title: Label
    description: Annotated[str, Field(max_length=10_000)] | None = None
    questions: list[Question] = Field(min_length=1, max_length=MAX_QUESTIONS)

    @model_validator(mode="after")
    def _consistent(self) -> QuestionnaireContent:
        problems = content_problems(self)
        if problems:
            raise ValueError("; ".join(f"{where}: {message}" for where, message in problems))
        return self

    def question(self, name: str) -> Question | None:
        return next((q for q in self.questions if q.name == name), None)

    @property
    def rated(self) -> list[Question]:
        return [q for q in self.questions if q.type in RATED]


def content_problems(content: QuestionnaireContent) -> list[tuple[str, str]]:
    """Every rule a questionnaire breaks, as ``(questions[i].field, message)``."""
    problems: list[tuple[str, str]] = []
    seen: dict[str, Question] = {}
    for i, q in enumerate(content.questions):
        at = f"questions[{i}]"
        if q.name in seen:
            problems.append((f"{at}.name", f"question {q.name!r} appears twice"))
        if q.type in CHOICE:
            if not q.choices:
                problems.append((f"{at}.choices", "a choice question needs choices"))
            names = [c.name for c in q.choices]
            if len(set(names)) != len(names):
                problems.append((f"{at}.choices", "choice names must be unique"))
        elif q.choices:
            problems.append((f"{at}.choices", f"a {q.type} question takes no choices"))
        if q.type in RATED and q.dimension is None:
            problems.append((f"{at}.dimension", "a rated question must name its satisfaction dimension"))
        if q.type not in RATED and (q.dimension or q.indicator_code or q.grid):
            problems.append((f"{at}.type", "only Likert and 0-10 questions carry a dimension, indicator or grid"))
        if q.show_if is not None:
            target = seen.get(q.show_if.question)
            if target is None:
                problems.append((f"{at}.show_if", "show_if must name an earlier question"))
            elif target.type in CHOICE and q.show_if.equals not in {c.name for c in target.choices}:
                problems.append((f"{at}.show_if", f"{q.show_if.equals!r} is not a choice of {target.name!r}"))
        seen.setdefault(q.name, q)
    if not any(q.type in RATED for q in content.questions):
        problems.append(("questions", "a satisfaction questionnaire needs at least one rated question"))
    return problems
