"""Input building blocks every feedback aggregate uses (bounded, extra fields refused)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def _plausible_date(value: dt.date) -> dt.date:
    # Dates far outside an appraisal's horizon are typos, not plans.
    if not dt.date(2000, 1, 1) <= value <= dt.date(2100, 12, 31):
        raise ValueError("date must lie between 2000-01-01 and 2100-12-31")
    return value


Date = Annotated[dt.date, AfterValidator(_plausible_date)]
Title = Annotated[str, Field(min_length=1, max_length=300)]
Text = Annotated[str, Field(min_length=1, max_length=8000)]
ShortText = Annotated[str, Field(min_length=1, max_length=2000)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
