"""The public report of a published campaign: HTML with inline SVG charts (readable without
JavaScript), and the same numbers as CSV and xlsx. Only aggregates: never a single response."""

from __future__ import annotations

import csv
import io
from html import escape
from typing import Any

from openpyxl import Workbook

from services.survey_svc.analysis.logic import OVERALL
from services.survey_svc.analysis.models import Analysis
from services.survey_svc.campaign.models import Campaign

COLUMNS = (
    "object_id",
    "object_name",
    "dimension",
    "indicator_code",
    "respondent_group",
    "n",
    "n_eff",
    "suppressed",
    "index",
    "ci_low",
    "ci_high",
)
BAR_WIDTH, ROW_HEIGHT, LABEL_WIDTH = 400, 26, 220
FORMULA_STARTS = frozenset("=+-@\t\r")
REASONS = {
    "speeding": "answered in under a third of the median time",
    "straight_lining": "gave at least 90% identical answers across a grid of 5 or more questions",
    "duplicate_device": "came from a device that had already answered",
    "over_quota": "were interviews beyond the investigator's quota",
}


def _chart(title: str, rows: list[tuple[str, dict[str, Any]]]) -> str:
    """Horizontal bars (index) with interval whiskers; suppressed rows say so instead of a bar."""
    height = ROW_HEIGHT * len(rows) + 10
    parts = [
        f"<figure><figcaption>{escape(title)}</figcaption>"
        f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {LABEL_WIDTH + BAR_WIDTH + 80} {height}" '
        f'width="100%" xmlns="http://www.w3.org/2000/svg" font-size="12">'
    ]
    for i, (label, cell) in enumerate(rows):
        y = 5 + i * ROW_HEIGHT
        parts.append(f'<text x="0" y="{y + 15}">{escape(label)}</text>')
        if cell["suppressed"]:
            parts.append(f'<text x="{LABEL_WIDTH}" y="{y + 15}" fill="#555">suppressed (n={cell["n"]})</text>')
            continue
        index, low, high = (float(cell[k]) for k in ("index", "ci_low", "ci_high"))
        x = LABEL_WIDTH
        parts.append(f'<rect x="{x}" y="{y + 4}" width="{index / 100 * BAR_WIDTH:.1f}" height="14" fill="#3b6ea5">')
        parts.append(f"<title>{escape(label)}: {index:.1f} (95% CI {low:.1f}-{high:.1f}, n={cell['n']})</title></rect>")
        lx, hx = x + low / 100 * BAR_WIDTH, x + high / 100 * BAR_WIDTH
        parts.append(
            f'<line x1="{lx:.1f}" x2="{hx:.1f}" y1="{y + 11}" y2="{y + 11}" stroke="#111" stroke-width="1.5"/>'
        )
        for end in (lx, hx):
            parts.append(f'<line x1="{end:.1f}" x2="{end:.1f}" y1="{y + 6}" y2="{y + 16}" stroke="#111"/>')
        parts.append(f'<text x="{x + BAR_WIDTH + 8}" y="{y + 15}">{index:.1f}</text>')
    parts.append("</svg></figure>")
    return "".join(parts)


def _table(cells: list[dict[str, Any]]) -> str:
    head = "".join(f"<th scope='col'>{escape(c)}</th>" for c in COLUMNS[1:])
    body = "".join(
        "<tr>" + "".join(f"<td>{escape('' if c.get(k) is None else str(c.get(k)))}</td>" for k in COLUMNS[1:]) + "</tr>"
        for c in cells
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def to_html(campaign: Campaign, analysis: Analysis) -> str:
    results = analysis.results
    cells: list[dict[str, Any]] = results["cells"]
    overall = [c for c in cells if c["respondent_group"] is None]
    by_object = [(c["object_name"], c) for c in overall if c["dimension"] == OVERALL]
    dimensions = [(f"{c['object_name']} - {c['dimension']}", c) for c in overall if c["dimension"] != OVERALL]
    groups = [
        (f"{c['object_name']} - {c['respondent_group']}", c)
        for c in cells
        if c["respondent_group"] is not None and c["dimension"] == OVERALL
    ]
    tokens = results.get("tokens", {})
    issued = tokens.get("issued", 0)
    rate = f"{tokens.get('spent', 0) / issued:.1%}" if issued else "no invitation tokens were issued"
    flagged = (
        "".join(
            f"<li>{count} response(s) {escape(REASONS.get(reason, reason))}</li>"
            for reason, count in results["flagged"].items()
            if count
        )
        or "<li>none</li>"
    )
    weights = results["weights"]
    method = (
        "post-stratification (population share / sample share per respondent group x region)"
        if results["method"] == "post_stratified"
        else "raking over the respondent-group and region margins (some cells were too thin)"
    )
    suppressed = sum(1 for c in cells if c["suppressed"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(campaign.name)}: survey report</title>
<style>body{{font-family:sans-serif;max-width:60rem;margin:auto;padding:1rem;line-height:1.4}}
table{{border-collapse:collapse;font-size:.85rem}}td,th{{border:1px solid #ccc;padding:.2rem .4rem}}
figure{{margin:1rem 0}}figcaption{{font-weight:bold}}</style></head>
<body><main>
<h1>{escape(campaign.name)}</h1>
<p>Fieldwork {campaign.fieldwork_start.isoformat()} to {campaign.fieldwork_end.isoformat()}; analysis version
{analysis.version} (results hash <code>{analysis.results_hash}</code>). Indices run from 0 (all very dissatisfied)
to 100 (all very satisfied); bars show the 95% confidence interval.</p>
<h2>Index by object</h2>{_chart("Overall satisfaction index by object", by_object)}
<h2>Index by dimension</h2>{_chart("Satisfaction index by object and dimension", dimensions)}
<h2>Index by respondent group</h2>{_chart("Overall index by object and respondent group", groups)}
<h2>Methods</h2>
<ul>
<li>Sample: {results["responses_total"]} responses recorded, {results["responses_valid"]} used in the analysis.</li>
<li>Response rate: {escape(rate)} of invitation tokens were used ({tokens.get("spent", 0)} of {issued}).</li>
<li>Excluded, and why (a response can carry several flags):<ul>{flagged}</ul></li>
<li>Weighting: {method}; weights trimmed at {weights["max_weight_ratio"]} times the mean
(range {weights["min"]} to {weights["max"]}, design effect {weights["design_effect"]}).</li>
<li>Intervals: weighted variance with Kish's effective sample size (sum of weights squared over
the sum of squared weights).</li>
<li>Suppression: {suppressed} figure(s) rest on fewer than {results["min_cell_size"]} responses and are
reported as suppressed, not as numbers.</li>
</ul>
<h2>Data</h2>
<p><a href="report.csv">CSV</a> · <a href="report.xlsx">Excel</a></p>
{_table(cells)}
</main></body></html>"""


def _spreadsheet_safe(cell: dict[str, Any]) -> dict[str, Any]:
    """Object names are free text: one starting with = + - @ would run as a formula in a
    spreadsheet opening the public download, so it is prefixed with an apostrophe."""
    name = str(cell.get("object_name", ""))
    return {**cell, "object_name": "'" + name if name[:1] in FORMULA_STARTS else name}


def to_csv(analysis: Analysis) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(_spreadsheet_safe(c) for c in analysis.results["cells"])
    return out.getvalue()


def to_xlsx(analysis: Analysis) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("indices")
    sheet.append(list(COLUMNS))
    for cell in map(_spreadsheet_safe, analysis.results["cells"]):
        sheet.append([cell.get(c) for c in COLUMNS])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
