"""Response intake to survey_svc in batches (``contracts.intake_batch``): JSON submissions in
flight are sent as one request per round, up to ``MAX_IN_FLIGHT`` rounds at a time. One HTTP
exchange then carries many respondents; per respondent the gateway keeps its own edge (request id,
rate limit per address, body cap, problem+json) and survey_svc its checks and writes."""

from __future__ import annotations

import logging

from contracts.intake_batch import BATCH_PATH, IntakeAnswer, IntakeItem, decode_answers, encode_items
from services.gateway.api.proxy import BadGateway, ServiceUnavailable, UpstreamTimeout
from services.gateway.upstream import (
    UpstreamBroken,
    UpstreamFailure,
    Upstreams,
    UpstreamTimedOut,
    UpstreamUnreachable,
)
from shared.errors import AppError
from shared.rounds import Rounds

log = logging.getLogger("govperf.gateway.intake")

SERVICE = "survey"
MAX_ITEMS = 128
# Larger submissions go on their own: a round stays well under survey_svc's body cap.
MAX_BATCHED_BODY = 8 * 1024
MAX_IN_FLIGHT = 4

# What a submission gets back: survey_svc's answer, the failure of the round, or None when
# survey_svc takes no batches (the submission is then forwarded on its own).
Outcome = IntakeAnswer | AppError | None


class IntakeRelay(Rounds[IntakeItem, Outcome]):
    name = "gateway-intake-relay"

    def __init__(self, upstreams: Upstreams) -> None:
        super().__init__(max_round=MAX_ITEMS, max_in_flight=MAX_IN_FLIGHT)
        self.upstreams = upstreams

    async def round(self, items: list[IntakeItem]) -> list[Outcome]:
        # Never raises: a failed exchange is every item's answer (retrying item by item would
        # repeat submissions survey_svc may have recorded).
        try:
            data = await self._exchange(encode_items(items))
        except UpstreamFailure as exc:
            log.warning("intake batch of %d to %s failed: %r", len(items), SERVICE, exc)
            return [failure(exc)] * len(items)
        if data is None:
            return [None] * len(items)
        try:
            return list(decode_answers(data, len(items)))
        except ValueError as exc:
            log.warning("intake batch of %d: unreadable answer: %s", len(items), exc)
            return [BadGateway(f"The {SERVICE} service gave no valid answer.")] * len(items)

    async def _exchange(self, body: bytes) -> bytes | None:
        headers = [("content-type", "application/octet-stream")]
        answer = await self.upstreams.send(SERVICE, "POST", BATCH_PATH, headers=headers, body=body)
        if answer.chunks is not None:
            try:
                answer.body = b"".join([chunk async for chunk in answer.chunks])
            finally:
                await answer.release()
        if answer.status in (404, 405, 413):  # no batches there (an older version, or batching off)
            return None
        if answer.status != 200:
            raise UpstreamBroken(f"intake batch answered {answer.status}")
        return answer.body


def failure(exc: UpstreamFailure) -> AppError:
    """The problem a caller gets for a failed exchange, as on every proxied route."""
    if isinstance(exc, UpstreamUnreachable):
        return ServiceUnavailable(f"The {SERVICE} service is not reachable; try again shortly.")
    if isinstance(exc, UpstreamTimedOut):
        return UpstreamTimeout(f"The {SERVICE} service did not answer in time.")
    return BadGateway(f"The {SERVICE} service gave no valid answer.")
