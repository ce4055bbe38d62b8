"""Events feedback_svc consumes: published appraisal results open and update improvement cases."""

from __future__ import annotations

import functools

from contracts.appraisal_results import APPRAISAL_RESULTS_PUBLISHED
from services.feedback_svc.case.by_reference import PublishedObjects
from services.feedback_svc.case.intake import apply_results_published
from shared.messaging.consumer import Handler


def handlers(by_reference: PublishedObjects) -> dict[str, Handler]:
    """``{event type: handler}``; results published by reference are fetched with ``by_reference``."""
    return {APPRAISAL_RESULTS_PUBLISHED: functools.partial(apply_results_published, by_reference=by_reference)}
