"""Pure rendering of a joint meeting's minutes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

MEMBER_NAMES = {
    "perf_office": "performance management office",
    "finance": "finance",
    "audit": "audit",
    "supervision": "supervision",
    "legal": "legal affairs",
}


def _line(text: str) -> str:
    # Minutes are one Markdown document: user text never opens a heading or a table of its own.
    return " ".join(str(text).split()).replace("|", "\\|")


def minutes_markdown(
    *,
    title: str,
    held_on: dt.date,
    org_path: str,
    members_present: Sequence[str],
    agenda: Sequence[Mapping[str, Any]],
    resolutions: Sequence[Mapping[str, Any]],
    case_names: Mapping[str, str],
) -> str:
    lines = [
        f"# Minutes: {_line(title)}",
        "",
        f"- Date: {held_on.isoformat()}",
        f"- Convened by: {org_path}",
        "- Member units present: " + ", ".join(MEMBER_NAMES.get(m, m) for m in members_present),
        "",
        "## Agenda",
        "",
    ]
    for number, item in enumerate(agenda, start=1):
        case = case_names.get(str(item.get("case_id")), "a case")
        lines.append(f"{number}. {_line(item['topic'])} (case: {_line(case)}, id {item.get('case_id')})")
    if not agenda:
        lines.append("No agenda items.")
    lines += ["", "## Resolutions", "", "| # | Resolution | Assignee | Deadline | Task |", "|---|---|---|---|---|"]
    for number, res in enumerate(resolutions, start=1):
        lines.append(
            f"| {number} | {_line(res['text'])} | {res['assignee_org_path']} | {res['deadline']} | {res['task_id']} |"
        )
    return "\n".join(lines) + "\n"
