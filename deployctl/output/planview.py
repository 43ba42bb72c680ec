"""The compiled plan for people (text, markdown) and programs (JSON)."""

from __future__ import annotations

import json
from typing import Any

from deployctl.core.kinds import StepKind
from deployctl.core.plan import Plan, Step
from deployctl.manifest.durations import format_duration
from deployctl.output import rollout
from deployctl.secrets import Redactor

FORMAT_VERSION = 1
MARKDOWN_LIMIT = 65_000


def _wait(step: Step) -> str:
    return format_duration(step.wait) if step.wait else ""


def _traffic(step: Step) -> str:
    return (
        f"{step.traffic}%"
        if step.traffic is not None and step.kind != StepKind.GATE_ANALYSIS
        else ""
    )


def _flags(step: Step) -> str:
    if step.one_way:
        return "ONE-WAY"
    if step.kind == StepKind.APPROVAL:
        return "APPROVAL"
    return ""


def _totals(plan: Plan) -> list[str]:
    return rollout.totals(plan)


def _title(plan: Plan) -> str:
    what = f"{plan.kind}"
    if plan.strategy:
        what += f", {plan.strategy}"
    return f"{plan.project} ({plan.environment}): {what}, from {plan.source}"


def render_text(plan: Plan, redact: Redactor | None = None) -> str:
    redact = redact or Redactor(plan.secret_values)
    width = max((len(s.id) for s in plan.steps), default=10)
    kind_width = max((len(s.kind) for s in plan.steps), default=10)
    lines = [f"Plan: {_title(plan)}", ""]
    for step in plan.steps:
        cols = [
            step.id.ljust(width),
            step.kind.ljust(kind_width),
            _traffic(step).rjust(4),
            _wait(step).rjust(6),
            _flags(step).ljust(8),
            step.description,
        ]
        lines.append("  " + "  ".join(cols).rstrip())
    lines += ["", "Totals:"] + [f"  {line}" for line in _totals(plan)]
    return redact("\n".join(lines) + "\n")


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(plan: Plan, redact: Redactor | None = None, limit: int = MARKDOWN_LIMIT) -> str:
    """A PR comment: totals first, then the steps; cut with a note past ``limit``."""
    redact = redact or Redactor(plan.secret_values)
    head = [f"### deployctl plan: {_md_cell(_title(plan))}", ""]
    head += [rollout.render_markdown(plan), "#### Steps", ""]
    head += ["| step | action | traffic | wait | |", "|---|---|---|---|---|"]
    rows = [
        f"| `{step.id}` | {_md_cell(step.description)} | {_traffic(step)} | {_wait(step)} | {_flags(step)} |"
        for step in plan.steps
    ]
    out = redact("\n".join(head)) + "\n"
    for n, raw in enumerate(rows):
        row = redact(raw) + "\n"
        note = f"\n_Truncated: {len(rows) - n} of {len(rows)} steps not shown (comment limit); run `deployctl plan` for all._\n"
        if len(out) + len(row) + len(note) > limit:
            return out + note
        out += row
    return out


def plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "source": plan.source,
        "digest": plan.digest,
        **plan.to_json(),
    }


def render_json(plan: Plan, redact: Redactor | None = None) -> str:
    redact = redact or Redactor(plan.secret_values)
    return json.dumps(redact.data(plan_json(plan)), indent=2, sort_keys=True) + "\n"
