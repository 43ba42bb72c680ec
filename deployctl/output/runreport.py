"""``deployctl report RUN_ID``: a run's timeline, from its journal.

- markdown: the summary, a mermaid ``xychart-beta`` of traffic and one per
  gated metric against its limit, then the events (for a PR or an issue);
- html: one self-contained file, the same charts as inline SVG (matplotlib,
  the ``report`` extra), no scripts and nothing fetched;
- json: versioned (``format_version``), the timeline with every check.
"""

from __future__ import annotations

import html
import json
import time
from typing import Any

from deployctl.core.records import Record, RunInfo
from deployctl.execute import api
from deployctl.execute.timeline import Timeline
from deployctl.output import charts, summary
from deployctl.secrets import Redactor

FORMAT_VERSION = 1
_SKIP = frozenset({api.CHECK})  # checks are drawn, not listed


def _at(tl: Timeline, at: float) -> str:
    return f"+{summary.clock(at - (tl.started or at))}"


def events(tl: Timeline, records: list[Record]) -> list[tuple[str, str, str, str]]:
    """(time since start, UTC time, step, what) for every record but checks."""
    out = []
    for rec in records:
        if rec.type in _SKIP:
            continue
        detail = ""
        data = rec.data
        if rec.type in (api.FAILED, api.UNDO_FAILED):
            detail = str(data.get("error") or "")
        elif rec.type == api.ROLLBACK_STARTED:
            detail = str(data.get("reason") or "")
        elif rec.type == api.RUN_FINISHED:
            detail = str(data.get("status") or "")
        elif rec.type == api.WAITING_RECORD:
            detail = str(data.get("reason") or "")
        elif rec.type == api.APPROVED:
            detail = f"by {data.get('by')}"
        elif rec.type == api.WAITED:
            detail = f"{summary.clock(float(data.get('seconds') or 0))}"
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(rec.at))
        out.append((_at(tl, rec.at), stamp, rec.step_id or "", f"{rec.type} {detail}".strip()))
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(tl: Timeline, records: list[Record], redact: Redactor) -> str:
    parts = [summary.render_markdown(tl)]
    for chart in charts.charts(tl):
        parts += [f"#### {chart.title}", "", charts.mermaid(chart), ""]
    rows = events(tl, records)
    parts += [
        "<details><summary>Events (gate checks are in the charts)</summary>",
        "",
        "| when | UTC | step | what |",
        "|---|---|---|---|",
    ]
    parts += [f"| {a} | {b} | `{_cell(c)}` | {_cell(d)} |" for a, b, c, d in rows]
    parts += ["", "</details>", ""]
    return redact("\n".join(parts))


def render_json(tl: Timeline, run: RunInfo, redact: Redactor) -> str:
    body: dict[str, Any] = {"format_version": FORMAT_VERSION, "run": run.to_json(), **tl.to_json()}
    return json.dumps(redact.data(body), indent=2, sort_keys=True) + "\n"


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
figure { margin: 1.5em 0; }
figure svg { max-width: 100%; height: auto; }
code { font-size: 0.95em; }
"""


def render_html(tl: Timeline, records: list[Record], redact: Redactor) -> str:
    """One file: summary, one chart per gated metric (and traffic), events."""

    def esc(text: str) -> str:
        return html.escape(redact(text))

    title = f"deployctl run {tl.run_id}: {tl.project} ({tl.environment}) {tl.status}"
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<p>From <code>{esc(tl.source)}</code>: {esc(summary.headline(tl, with_id=False))}.</p>",
    ]
    table = summary.rows(tl)
    if table:
        out.append(
            "<table><thead><tr><th>stage</th><th>traffic</th><th>time</th>"
            "<th>checks passed</th><th>worst vs limit</th></tr></thead><tbody>"
        )
        out += ["<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in table]
        out.append("</tbody></table>")
    if tl.undone:
        out.append(f"<p>Undone: {esc(', '.join(tl.undone))}</p>")
    if tl.rollback_reason:
        out.append(f"<p>Rolled back because: {esc(tl.rollback_reason)}</p>")
    for chart in charts.charts(tl):
        kind = "traffic" if chart.key == "traffic" else "metric"
        out.append(
            f'<figure class="chart" data-chart="{kind}" data-key="{html.escape(chart.key)}">'
            f"{charts.svg(chart)}<figcaption>{esc(chart.title)}</figcaption></figure>"
        )
    out.append(
        "<h2>Events</h2><table><thead><tr><th>when</th><th>UTC</th><th>step</th>"
        "<th>what</th></tr></thead><tbody>"
    )
    out += [
        f"<tr><td>{esc(a)}</td><td>{esc(b)}</td><td><code>{esc(c)}</code></td><td>{esc(d)}</td></tr>"
        for a, b, c, d in events(tl, records)
    ]
    out.append("</tbody></table></body></html>")
    return "\n".join(out) + "\n"
