"""The gateway and survey_svc exchange intake batches as length-prefixed frames: whatever bytes a
respondent sent arrive unchanged, and anything but whole frames is refused (never half-read)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.intake_batch import (
    MAX_ITEMS,
    IntakeAnswer,
    IntakeItem,
    decode_answers,
    decode_items,
    encode_answers,
    encode_items,
)

latin1 = st.text(st.characters(max_codepoint=255), max_size=40)
items = st.lists(st.builds(IntakeItem, latin1, latin1, st.binary(max_size=300)), max_size=20)
answers = st.lists(st.builds(IntakeAnswer, st.integers(100, 599), st.binary(max_size=300)), max_size=20)


@given(items)
def test_items_arrive_byte_for_byte(batch) -> None:
    assert decode_items(encode_items(batch)) == batch


@given(answers)
def test_answers_arrive_in_order(batch) -> None:
    assert decode_answers(encode_answers(batch), len(batch)) == batch


@given(items.filter(bool), st.data())
def test_a_cut_batch_is_refused_never_half_read(batch, data) -> None:
    boundaries = {len(encode_items(batch[:n])): n for n in range(len(batch) + 1)}
    encoded = encode_items(batch)
    cut = data.draw(st.integers(0, len(encoded)))
    if cut in boundaries:  # a shorter batch of whole items (the answers' count tells them apart)
        assert decode_items(encoded[:cut]) == batch[: boundaries[cut]]
    else:
        with pytest.raises(ValueError):
            decode_items(encoded[:cut])


def test_limits_and_counts_are_enforced() -> None:
    with pytest.raises(ValueError):
        encode_items([IntakeItem("", "c" * 8193, b"{}")])  # never cut short: the device cookie may be at the end
    with pytest.raises(ValueError):
        decode_items(encode_items([IntakeItem("", "", b"{}")] * (MAX_ITEMS + 1)))
    with pytest.raises(ValueError):
        decode_items(b"\x01\x00\x00\x00\x00\x00\x00\x00" + b"x" * 300)  # a request id over 128 bytes
    with pytest.raises(ValueError):
        decode_answers(encode_answers([IntakeAnswer(201, b"{}")]), 2)  # one answer for two items
    with pytest.raises(ValueError):
        decode_answers(b"\x00\x07\x00\x00\x00\x00", 1)  # status 7


def test_the_answers_media_type_follows_its_status() -> None:
    assert IntakeAnswer(201, b"{}").media_type == "application/json"
    assert IntakeAnswer(409, b"{}").media_type == "application/problem+json"
