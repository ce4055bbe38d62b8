"""Events appraisal_svc consumes."""

from __future__ import annotations

from contracts.feedback_events import FEEDBACK_CASE_CLOSED
from contracts.survey_results import SURVEY_RESULTS_FINALIZED
from services.appraisal_svc.expert.satisfaction import on_survey_results_finalized
from services.appraisal_svc.framework.events import FRAMEWORK_PUBLISHED
from services.appraisal_svc.framework.service import on_framework_published
from services.appraisal_svc.improvement.service import on_case_closed
from shared.messaging.consumer import Handler

HANDLERS: dict[str, Handler] = {
    FRAMEWORK_PUBLISHED: on_framework_published,
    SURVEY_RESULTS_FINALIZED: on_survey_results_finalized,
    FEEDBACK_CASE_CLOSED: on_case_closed,
}
