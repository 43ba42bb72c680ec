"""The end-of-run summary: per stage the traffic, the time spent, the checks
passed and the worst value against its limit; then the total time, the
final traffic and what was undone.  Text for logs and terminals, markdown
for ``$GITHUB_STEP_SUMMARY`` and notifications."""

from __future__ import annotations

from deployctl.execute.timeline import StageSummary, Timeline


def clock(seconds: float) -> str:
    """``1:05:09``, ``05:09``: how long, for people."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _checks(stage: StageSummary) -> str:
    if not stage.checks:
        return "-"
    text = f"{stage.passed}/{stage.checks}"
    if stage.no_data:
        text += f" ({stage.no_data} no data)"
    return text


def _worst(stage: StageSummary) -> str:
    return "; ".join(w.text() for w in stage.worst) or "-"


def _traffic(stage: StageSummary) -> str:
    return f"{stage.traffic}%" if stage.traffic is not None else "-"


def headline(tl: Timeline, *, with_id: bool = True) -> str:
    undone = f"undone: {len(tl.undone)} step(s)" if tl.undone else "nothing undone"
    who = f"run {tl.run_id} " if with_id else ""
    return (
        f"{who}{tl.status.replace('_', ' ')} in {clock(tl.seconds)}; "
        f"{'final traffic ' if tl.final else ''}{tl.final_text()}; {undone}"
    )


def rows(tl: Timeline) -> list[tuple[str, str, str, str, str]]:
    return [
        (s.name, _traffic(s), clock(s.seconds), _checks(s), _worst(s))
        for s in tl.stages
        if s.shown and s.started is not None
    ]


def render_text(tl: Timeline) -> list[str]:
    """The summary as lines (no trailing newlines), columns aligned."""
    lines = [f"summary: {headline(tl)}"]
    table = rows(tl)
    if table:
        head = ("stage", "traffic", "time", "checks", "worst vs limit")
        widths = [max(len(r[i]) for r in [head, *table]) for i in range(4)]
        for row in [head, *table]:
            cells = [
                row[0].ljust(widths[0]),
                row[1].rjust(widths[1]),
                row[2].rjust(widths[2]),
                row[3].ljust(widths[3]),
                row[4],
            ]
            lines.append("  " + "  ".join(cells).rstrip())
    if tl.undone:
        lines.append(f"  undone: {', '.join(tl.undone)}")
    if tl.rollback_reason:
        lines.append(f"  rollback because: {tl.rollback_reason}")
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(tl: Timeline) -> str:
    out = [
        f"### deployctl: {_cell(tl.project)} ({_cell(tl.environment)}) "
        f"{tl.status.replace('_', ' ')}",
        "",
        f"Run `{tl.run_id}` from `{_cell(tl.source)}`: {_cell(headline(tl, with_id=False))}.",
        "",
    ]
    table = rows(tl)
    if table:
        out += [
            "| stage | traffic | time | checks passed | worst vs limit |",
            "|---|---|---|---|---|",
        ]
        out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table]
        out.append("")
    if tl.undone:
        out.append("Undone: " + ", ".join(f"`{s}`" for s in tl.undone))
        out.append("")
    if tl.rollback_reason:
        out.append(f"Rolled back because: {_cell(tl.rollback_reason)}")
        out.append("")
    return "\n".join(out)
