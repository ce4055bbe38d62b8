"""Pure rules of tasks (progress, verification, overdue, outsiders) and of the usage report."""

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.feedback_svc.meeting.logic import minutes_markdown
from services.feedback_svc.task import logic
from services.feedback_svc.task.logic import TaskStatus
from services.feedback_svc.usage.logic import GradeUsage, order_grades, overall

TODAY = dt.date(2027, 6, 1)


def test_progress_then_submit_then_verification():
    status = logic.status_after_progress(TaskStatus.open, submit=False)
    assert status == TaskStatus.in_progress
    status = logic.status_after_progress(status, submit=True)
    assert status == TaskStatus.submitted
    assert logic.status_after_verification(status, approved=False) == TaskStatus.in_progress
    assert logic.status_after_verification(status, approved=True) == TaskStatus.verified
    with pytest.raises(ValueError):
        logic.status_after_progress(TaskStatus.verified, submit=False)
    with pytest.raises(ValueError):
        logic.status_after_verification(TaskStatus.open, approved=True)


@given(st.dates(), st.sampled_from(list(TaskStatus)))
def test_only_unfinished_tasks_past_their_deadline_are_overdue(deadline, status):
    overdue = logic.is_overdue(deadline, status, TODAY)
    assert overdue == (deadline < TODAY and status in (TaskStatus.open, TaskStatus.in_progress))


@pytest.mark.parametrize(
    ("verifier", "owner", "outsider"),
    [
        ("/gd/sz", "/gd/sz/ft", True),
        ("/gd/sz/ft", "/gd/sz/ft", False),
        ("/gd/sz/ft/edu", "/gd/sz/ft", False),
        ("/gd/sz/ftx", "/gd/sz/ft", True),
    ],
)
def test_verifier_must_be_outside_the_owner_unit(verifier, owner, outsider):
    assert logic.verifier_is_outsider(verifier, owner) is outsider


@given(st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 1000)), max_size=6))
def test_usage_shares_are_fractions_and_overall_sums(counts):
    rows = [GradeUsage(grade=f"G{i}", published=max(p, f), followed=min(p, f)) for i, (p, f) in enumerate(counts)]
    for row in rows:
        assert Decimal(0) <= row.share <= Decimal(1)
    total = overall(rows)
    assert total.published == sum(r.published for r in rows) and total.followed == sum(r.followed for r in rows)


def test_grades_follow_the_plan_scale():
    rows = [GradeUsage("D", 1, 0), GradeUsage("A", 2, 2), GradeUsage("Z", 1, 0), GradeUsage("B", 3, 1)]
    assert [r.grade for r in order_grades(rows, ["A", "B", "C", "D"])] == ["A", "B", "D", "Z"]
    assert GradeUsage("B", 3, 1).share == Decimal("0.3333")


def test_minutes_keep_user_text_inside_its_cell():
    text = minutes_markdown(
        title="Q2 joint meeting",
        held_on=dt.date(2027, 4, 2),
        org_path="/gd/sz",
        members_present=["finance", "supervision"],
        agenda=[{"case_id": "c1", "topic": "Futian\n# injected heading"}],
        resolutions=[
            {"text": "Fix | the table", "assignee_org_path": "/gd/sz/ft", "deadline": "2027-06-30", "task_id": "t1"}
        ],
        case_names={"c1": "Futian, 2026"},
    )
    assert "\n# injected" not in text
    assert "Fix \\| the table" in text
    assert "Member units present: finance, supervision" in text
