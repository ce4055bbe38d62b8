"""A response's content hash is the sha256 of its canonical JSON: the quick spelling used at intake
must be byte for byte the canonical one, or every stored receipt would stop verifying."""

import datetime as dt
import uuid

from hypothesis import given
from hypothesis import strategies as st

from services.survey_svc.response.service import record_json
from shared.hashchain import canonical_json

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=12), json_values, max_size=8))
def test_the_quick_spelling_of_json_values_is_the_canonical_one(record) -> None:
    assert record_json(record) == canonical_json(record)


def test_values_json_does_not_know_take_the_canonical_spelling() -> None:
    record = {"id": uuid.UUID(int=7), "on": dt.date(2026, 11, 28), "answers": {"q1": 3}}
    assert record_json(record) == canonical_json(record)
