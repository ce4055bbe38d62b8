"""One spelling per number in answers: 120, never 120.000000 from a NUMERIC column, nor 1.2E+2."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import PlainSerializer


def plain(value: Decimal) -> str:
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


PlainDecimal = Annotated[Decimal, PlainSerializer(plain, return_type=str, when_used="json")]
