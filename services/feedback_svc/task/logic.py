"""Pure rules of rectification tasks."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum


class TaskStatus(StrEnum):
    open = "open"
    in_progress = "in_progress"
    submitted = "submitted"  # the owner says it is done; an outsider verifies
    verified = "verified"


FINISHED = frozenset({TaskStatus.verified})


def status_after_progress(status: TaskStatus, *, submit: bool) -> TaskStatus:
    """A progress update starts the work; ``submit`` hands it over for verification."""
    if status in (TaskStatus.submitted, TaskStatus.verified):
        raise ValueError(f"a {status.value} task takes no progress updates")
    return TaskStatus.submitted if submit else TaskStatus.in_progress


def status_after_verification(status: TaskStatus, *, approved: bool) -> TaskStatus:
    if status != TaskStatus.submitted:
        raise ValueError(f"only a submitted task can be verified (this one is {status.value})")
    return TaskStatus.verified if approved else TaskStatus.in_progress


def is_overdue(deadline: dt.date, status: TaskStatus, today: dt.date) -> bool:
    """Past its deadline and not yet handed over: a submitted task waits on the verifier, not the owner."""
    return deadline < today and status in (TaskStatus.open, TaskStatus.in_progress)


def verifier_is_outsider(verifier_org_path: str, owner_org_path: str) -> bool:
    """Nobody inside the owner unit (or below it) verifies the owner's own work."""
    return not (verifier_org_path == owner_org_path or verifier_org_path.startswith(owner_org_path.rstrip("/") + "/"))
