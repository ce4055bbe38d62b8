"""Events the task aggregate publishes; the payload is a contract (contracts/feedback_events.py)."""

from __future__ import annotations

from contracts.feedback_events import FEEDBACK_TASK_OVERDUE, TaskOverdue

__all__ = ["FEEDBACK_TASK_OVERDUE", "TaskOverdue"]
