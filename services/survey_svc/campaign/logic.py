"""Pure rules of a campaign's life: which state follows which action."""

from __future__ import annotations

from services.survey_svc.campaign.models import CampaignStatus as S

# draft -> approved -> fieldwork -> closed -> analysed -> published; a correction is a new
# analysis (published -> analysed -> published again), never an edit of the old one.
TRANSITIONS: dict[str, dict[S, S]] = {
    "approved": {S.draft: S.approved},
    "fieldwork": {S.approved: S.fieldwork},
    "closed": {S.fieldwork: S.closed},
    "analyse": {S.closed: S.analysed, S.analysed: S.analysed, S.published: S.analysed},
    "publish": {S.analysed: S.published},
}


def next_status(current: str, action: str) -> S | None:
    """The state after ``action``, or None when the action is not allowed from ``current``."""
    return TRANSITIONS[action].get(S(current))
