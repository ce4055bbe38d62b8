"""The stored copy of an idempotent token batch opens with its Idempotency-Key and nothing else."""

import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import given
from hypothesis import strategies as st

from services.survey_svc.campaign import tokens

KEY = "3f1c9a52-8d2e-4b7f-9c1a-5e6d7f8a9b0c"


@given(st.text(min_size=0, max_size=2000))
def test_a_sealed_batch_opens_with_its_key(csv_text: str) -> None:
    assert tokens.open_batch(KEY, tokens.seal_batch(KEY, csv_text)) == csv_text


def test_another_key_or_an_altered_copy_opens_nothing() -> None:
    sealed = tokens.seal_batch(KEY, "token,respondent_page\nabc,/public/surveys/s/abc\n")
    with pytest.raises(InvalidTag):
        tokens.open_batch(KEY[:-1] + "d", sealed)
    altered = sealed[:20] + ("A" if sealed[20] != "A" else "B") + sealed[21:]
    with pytest.raises((InvalidTag, ValueError)):
        tokens.open_batch(KEY, altered)
    assert "abc" not in sealed and KEY not in tokens.replay_key_digest(KEY)
