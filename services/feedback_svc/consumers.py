"""Events feedback_svc consumes: published appraisal results open and update improvement cases."""

from __future__ import annotations

from contracts.appraisal_results import APPRAISAL_RESULTS_PUBLISHED
from services.feedback_svc.case.intake import apply_results_published
from shared.messaging.consumer import Handler

HANDLERS: dict[str, Handler] = {APPRAISAL_RESULTS_PUBLISHED: apply_results_published}
