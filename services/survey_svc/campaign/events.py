"""Events of campaigns. The payload is the shared contract appraisal_svc consumes."""

from contracts.survey_results import SURVEY_RESULTS_FINALIZED, SatisfactionCell, SurveyResultsFinalized

__all__ = ["SURVEY_RESULTS_FINALIZED", "SatisfactionCell", "SurveyResultsFinalized"]
