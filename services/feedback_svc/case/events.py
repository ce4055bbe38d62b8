"""Events the case aggregate publishes; the payload is a contract appraisal_svc reads too."""

from __future__ import annotations

from contracts.feedback_events import FEEDBACK_CASE_CLOSED, CaseClosed

__all__ = ["FEEDBACK_CASE_CLOSED", "CaseClosed"]
