"""Events survey_svc consumes: none yet (campaigns are set up by their organizers)."""

from __future__ import annotations

from shared.messaging.consumer import Handler

HANDLERS: dict[str, Handler] = {}
