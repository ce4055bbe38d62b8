"""``feedback.task.overdue`` through the gateway's registered handler into notifications, read by
the people whose scope covers the task's owner unit, on real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from contracts.feedback_events import FEEDBACK_TASK_OVERDUE, TaskOverdue
from services.gateway.consumers import HANDLERS
from services.gateway.notification.models import Notification
from shared.events import CloudEvent, make_event
from tests.gateway.api.support import Identity, unit_of

URL = "/api/v1/notifications"


def overdue(owner: str, title: str = "Publish the school meal audit") -> CloudEvent:
    payload = TaskOverdue(
        task_id=uuid.uuid4(),
        case_id=uuid.uuid4(),
        title=title,
        owner_unit_id=unit_of(owner),
        owner_org_path=owner,
        deadline=dt.date(2027, 5, 31),
        overdue_since=dt.datetime(2027, 6, 1, tzinfo=dt.UTC),
    )
    return make_event(FEEDBACK_TASK_OVERDUE, payload, source="govperf/feedback", subject=str(payload.task_id))


async def test_an_overdue_task_notifies_its_unit_the_office_and_supervision_above_it(ident: Identity, db, client):
    handle = HANDLERS[FEEDBACK_TASK_OVERDUE]
    futian, nanshan = overdue("/gd/sz/ft"), overdue("/gd/sz/ns", title="Fix the permit backlog")
    for event in (futian, nanshan, futian):  # the redelivery adds nothing
        await handle(db, event)
    assert await db.scalar(select(func.count()).select_from(Notification)) == 2

    async def seen(role: str, org_path: str) -> list[str]:
        _, headers = await ident.headers(role, org_path=org_path)
        response = await client.get(URL, headers=headers)
        assert response.status_code == 200, response.text
        return [n["detail"]["owner_org_path"] for n in response.json()["items"]]

    assert await seen("supervision", "/gd/sz") == ["/gd/sz/ft", "/gd/sz/ns"]
    assert await seen("perf_office", "/gd/sz") == ["/gd/sz/ft", "/gd/sz/ns"]
    assert await seen("department", "/gd/sz/ft") == ["/gd/sz/ft"]
    assert await seen("department", "/gd/sz/lh") == []
    _, finance = await ident.headers("finance", org_path="/gd/sz")
    assert (await client.get(URL, headers=finance)).status_code == 403
    assert (await client.get(URL)).status_code == 401


async def test_a_client_polls_from_the_last_notice_it_saw(ident: Identity, db, client):
    handle = HANDLERS[FEEDBACK_TASK_OVERDUE]
    _, office = await ident.headers("perf_office", org_path="/gd/sz")
    for i in range(3):
        await handle(db, overdue("/gd/sz/ft", title=f"Task {i}"))
    first = (await client.get(URL, params={"limit": 2}, headers=office)).json()
    assert [n["title"].rsplit(": ", 1)[1] for n in first["items"]] == ["Task 0", "Task 1"]
    rest = (await client.get(URL, params={"limit": 2, "cursor": first["next_cursor"]}, headers=office)).json()
    assert [n["title"].rsplit(": ", 1)[1] for n in rest["items"]] == ["Task 2"] and rest["next_cursor"] is None
    last_seen = rest["items"][-1]["id"]
    await handle(db, overdue("/gd/sz/ft", title="Task 3"))
    newer = (await client.get(URL, params={"after_id": last_seen}, headers=office)).json()
    assert [n["title"].rsplit(": ", 1)[1] for n in newer["items"]] == ["Task 3"]
    assert (await client.get(URL, params={"after_id": "nope"}, headers=office)).status_code == 422


async def test_a_poison_overdue_event_is_refused_at_the_edge(db):
    handle = HANDLERS[FEEDBACK_TASK_OVERDUE]
    event = overdue("/gd/sz/ft")
    for bad in ({"owner_org_path": "x" * 10_000}, {"task_id": "nope"}, {"surprise": 1}, {"title": ""}):
        with pytest.raises(ValidationError):
            await handle(db, event.model_copy(update={"data": event.data | bad}))
    assert await db.scalar(select(func.count()).select_from(Notification)) == 0
