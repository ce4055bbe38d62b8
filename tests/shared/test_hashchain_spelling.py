"""The chain's hashes are spelled without an encoder per entry (``hashchain.entry_hash``,
``canonical_json``): chains written before that must still verify, so both spell every entry as
``json.dumps`` did, byte for byte."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from shared import hashchain

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=12,
)


def dumps_entry_hash(
    prev_hash: str, seq: int, at: dt.datetime, actor: str, action: str, entity_type: str, entity_id: str, payload: str
) -> str:
    head = json.dumps([seq, at.isoformat(), actor, action, entity_type, entity_id], separators=(",", ":"))
    return hashlib.sha256(bytes.fromhex(prev_hash) + head.encode() + b"\n" + payload.encode()).hexdigest()


@given(
    prev=st.binary(min_size=32, max_size=32),
    seq=st.integers(min_value=1, max_value=2**62),
    at=st.datetimes(timezones=st.just(dt.UTC)),
    names=st.tuples(st.text(), st.text(), st.text(), st.text()),
    payload=json_values,
)
def test_entry_hash_is_the_json_dumps_spelling(
    prev: bytes, seq: int, at: dt.datetime, names: tuple[str, str, str, str], payload: Any
) -> None:
    text = hashchain.canonical_json(payload)
    assert hashchain.entry_hash(prev.hex(), seq, at, *names, text) == dumps_entry_hash(
        prev.hex(), seq, at, *names, text
    )


@given(json_values)
def test_canonical_json_is_the_json_dumps_spelling(value: Any) -> None:
    assert hashchain.canonical_json(value) == json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
