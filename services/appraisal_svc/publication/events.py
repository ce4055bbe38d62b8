"""The event publication emits. Its payload is shared with the consumers (feedback_svc,
survey_svc), so the model lives in ``contracts/appraisal_results.py``; this is its producer's name
for it."""

from __future__ import annotations

from contracts.appraisal_results import APPRAISAL_RESULTS_PUBLISHED, ResultsPublished

__all__ = ["APPRAISAL_RESULTS_PUBLISHED", "ResultsPublished"]
