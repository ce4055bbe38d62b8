"""Events indicator_svc consumes: none yet (it is the source of frameworks)."""

from __future__ import annotations

from shared.messaging.consumer import Handler

HANDLERS: dict[str, Handler] = {}
