"""Response intake between the gateway and survey_svc in batches: the gateway collects the
respondents' JSON submissions in flight and sends them to survey_svc as one request
(``POST /internal/intake/batch``, never routed from outside), which answers each one as it would
have answered it alone. One HTTP exchange between the two then carries many respondents: the
exchange itself was most of the CPU of a response on both sides.

Frames are length-prefixed (bodies pass byte for byte, valid JSON or not). A request is items:
``!HHI`` (lengths of the request id, the Cookie header and the body) then those bytes. An answer
is ``!HI`` (status, length) then the body, per item and in order: 201 with the receipt as JSON,
else a problem+json document. survey_svc answers 404 when it takes no batches (then the gateway
sends each submission on its own).

Only the gateway sends batches: each carries its short-lived service token (a JWT signed with the
platform's keys, so every service verifies it against the JWKS as any token), whose ``typ`` is
``SERVICE_TOKEN_TYPE`` and ``sub`` is ``GATEWAY_SUBJECT``; survey_svc refuses anything else with
401 (no valid token) or 403 (someone else's)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

BATCH_PATH = "/internal/intake/batch"
SERVICE_TOKEN_TYPE = "service"  # noqa: S105 - the typ claim's value, not a secret
GATEWAY_SUBJECT = "gateway"
MAX_ITEMS = 1000
MAX_REQUEST_ID = 128
MAX_COOKIE = 8192
_ITEM = struct.Struct("!HHI")
_ANSWER = struct.Struct("!HI")


@dataclass(frozen=True)
class IntakeItem:
    request_id: str
    cookie: str  # the respondent's Cookie header ("" without one): the device cookie is in it
    body: bytes


@dataclass(frozen=True)
class IntakeAnswer:
    status: int
    body: bytes

    @property
    def media_type(self) -> str:
        return "application/json" if self.status == 201 else "application/problem+json"


def encode_items(items: list[IntakeItem]) -> bytes:
    """ValueError for a request id or cookie over its limit (the sender keeps such submissions out)."""
    parts = []
    for item in items:
        request_id, cookie = item.request_id.encode("latin-1"), item.cookie.encode("latin-1")
        if len(request_id) > MAX_REQUEST_ID or len(cookie) > MAX_COOKIE:
            raise ValueError("a request id or cookie over its limit")
        parts += [_ITEM.pack(len(request_id), len(cookie), len(item.body)), request_id, cookie, item.body]
    return b"".join(parts)


def decode_items(data: bytes) -> list[IntakeItem]:
    """ValueError for anything but whole, well-formed frames within the limits."""
    items: list[IntakeItem] = []
    at = 0
    while at < len(data):
        if len(items) == MAX_ITEMS or at + _ITEM.size > len(data):
            raise ValueError("too many items or a truncated item")
        id_length, cookie_length, body_length = _ITEM.unpack_from(data, at)
        if id_length > MAX_REQUEST_ID or cookie_length > MAX_COOKIE:
            raise ValueError("request id or cookie too long")
        at += _ITEM.size
        end = at + id_length + cookie_length + body_length
        if end > len(data):
            raise ValueError("a truncated item")
        request_id = data[at : at + id_length].decode("latin-1")
        cookie = data[at + id_length : at + id_length + cookie_length].decode("latin-1")
        items.append(IntakeItem(request_id, cookie, data[at + id_length + cookie_length : end]))
        at = end
    return items


def encode_answers(answers: list[IntakeAnswer]) -> bytes:
    return b"".join(part for a in answers for part in (_ANSWER.pack(a.status, len(a.body)), a.body))


def decode_answers(data: bytes, expected: int) -> list[IntakeAnswer]:
    """ValueError unless ``data`` is exactly ``expected`` whole answers."""
    answers: list[IntakeAnswer] = []
    at = 0
    while at < len(data):
        if at + _ANSWER.size > len(data):
            raise ValueError("a truncated answer")
        status, length = _ANSWER.unpack_from(data, at)
        at += _ANSWER.size
        if at + length > len(data) or not 100 <= status <= 599:
            raise ValueError("a truncated answer or an impossible status")
        answers.append(IntakeAnswer(status, data[at : at + length]))
        at += length
    if len(answers) != expected:
        raise ValueError(f"{len(answers)} answers for {expected} items")
    return answers
