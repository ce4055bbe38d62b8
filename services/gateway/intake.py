"""Response intake to survey_svc in batches (``contracts.intake_batch``): JSON submissions in
flight are sent as one request per round, up to ``intake_batches_in_flight`` rounds at a time. One HTTP
exchange then carries many respondents; per respondent the gateway keeps its own edge (request id,
rate limit per address, body cap, problem+json) and survey_svc its checks and writes. Each batch
carries the gateway's service token (``ServiceToken``): survey_svc takes batches from nobody else."""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

from fastapi import FastAPI

from contracts.intake_batch import (
    BATCH_PATH,
    GATEWAY_SUBJECT,
    SERVICE_TOKEN_TYPE,
    IntakeAnswer,
    IntakeItem,
    decode_answers,
    encode_items,
)
from services.gateway.api.proxy import BadGateway, ServiceUnavailable, UpstreamTimeout
from services.gateway.keys.service import key_ring
from services.gateway.tokens.logic import registered_claims
from services.gateway.upstream import (
    UpstreamBroken,
    UpstreamFailure,
    Upstreams,
    UpstreamTimedOut,
    UpstreamUnreachable,
)
from shared.auth.jwt import sign
from shared.errors import AppError
from shared.rounds import Rounds

log = logging.getLogger("govperf.gateway.intake")

SERVICE = "survey"
MAX_ITEMS = 128
# Larger submissions go on their own: a round stays well under survey_svc's body cap.
MAX_BATCHED_BODY = 8 * 1024
# The service token's life: short, since a copy that leaked lets its holder send batches until then;
# renewed when half of it is gone, so a batch never carries one about to expire.
SERVICE_TOKEN_SECONDS = 300

# What a submission gets back: survey_svc's answer, the failure of the round, or None when
# survey_svc takes no batches (the submission is then forwarded on its own).
Outcome = IntakeAnswer | AppError | None


def service_token_claims(*, issuer: str, audience: str, now: int, lifetime: int) -> dict[str, Any]:
    """What the gateway's service token says: who it is and nothing more. No roles or org scope, so
    no service route that checks a principal accepts it, and the gateway refuses its ``typ``."""
    return {
        "sub": GATEWAY_SUBJECT,
        "typ": SERVICE_TOKEN_TYPE,
        "roles": [],
        **registered_claims(issuer=issuer, audience=audience, now=now, lifetime=lifetime),
    }


class Credentials(Protocol):
    async def get(self) -> str: ...

    def forget(self) -> None: ...


class ServiceToken:
    """The gateway's own bearer token for internal routes, signed with its current signing key (so
    services verify it against the platform's JWKS, as any token) and reused until half its life
    is gone: one signature per few minutes, not one per batch."""

    def __init__(self, app: FastAPI, *, lifetime: int = SERVICE_TOKEN_SECONDS) -> None:
        self._app, self._lifetime = app, lifetime
        self._token: str | None = None
        self._renew_at = 0.0

    def forget(self) -> None:
        """Mint afresh next time (the service refused this one: a rotated key, say)."""
        self._token = None

    async def get(self) -> str:
        now = time.time()
        if self._token is None or now >= self._renew_at:
            settings = self._app.state.settings
            kid, private_pem = await key_ring(self._app).signer()
            claims = service_token_claims(
                issuer=settings.jwt_issuer, audience=settings.jwt_audience, now=int(now), lifetime=self._lifetime
            )
            self._token = sign(claims, private_pem, algorithm=settings.jwt_algorithm, kid=kid)
            self._renew_at = now + self._lifetime / 2
        return self._token


class IntakeRelay(Rounds[IntakeItem, Outcome]):
    name = "gateway-intake-relay"

    def __init__(self, upstreams: Upstreams, credentials: Credentials, *, in_flight: int = 4) -> None:
        super().__init__(max_round=MAX_ITEMS, max_in_flight=in_flight)
        self.upstreams, self.credentials = upstreams, credentials

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
        headers = [
            ("content-type", "application/octet-stream"),
            ("authorization", f"Bearer {await self.credentials.get()}"),
        ]
        answer = await self.upstreams.send(SERVICE, "POST", BATCH_PATH, headers=headers, body=body)
        if answer.chunks is not None:
            try:
                answer.body = b"".join([chunk async for chunk in answer.chunks])
            finally:
                await answer.release()
        if answer.status in (404, 405, 413):  # no batches there (an older version, or batching off)
            return None
        if answer.status in (401, 403):
            # survey_svc does not (yet) trust this token, e.g. its key set predates a rotation:
            # respondents are not turned away for it; their submissions go one by one meanwhile.
            log.error("%s refused the gateway's service token (%d); forwarding one by one", SERVICE, answer.status)
            self.credentials.forget()
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
