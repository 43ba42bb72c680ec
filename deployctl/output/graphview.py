"""The step DAG as Graphviz DOT or Mermaid, for docs and reviews."""

from __future__ import annotations

import json

from deployctl.core.kinds import StepKind
from deployctl.core.plan import Plan, Step


def _label(step: Step) -> str:
    extra = []
    if step.traffic is not None and step.kind != StepKind.GATE_ANALYSIS:
        extra.append(f"{step.traffic}%")
    if step.one_way:
        extra.append("one-way")
    return step.id + (f" ({', '.join(extra)})" if extra else "")


_SHAPES: dict[str, str] = {StepKind.APPROVAL: "hexagon", StepKind.GATE_ANALYSIS: "ellipse"}
_BRACKETS: dict[str, tuple[str, str]] = {
    StepKind.APPROVAL: ("{{", "}}"),
    StepKind.GATE_ANALYSIS: ("([", "])"),
}


def render_dot(plan: Plan) -> str:
    lines = [
        f"digraph {json.dumps(plan.project)} {{",
        "  rankdir=LR;",
        "  node [shape=box, fontname=Helvetica];",
    ]
    for step in plan.steps:
        shape = _SHAPES.get(step.kind, "box")
        style = ', style=filled, fillcolor="#f8d7da"' if step.one_way else ""
        lines.append(
            f"  {json.dumps(step.id)} [label={json.dumps(_label(step))}, shape={shape}{style}];"
        )
    for step in plan.steps:
        for dep in step.deps:
            lines.append(f"  {json.dumps(dep)} -> {json.dumps(step.id)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_mermaid(plan: Plan) -> str:
    ids = {step.id: f"s{n}" for n, step in enumerate(plan.steps)}
    lines = ["flowchart LR"]
    for step in plan.steps:
        label = _label(step).replace('"', "'")
        opening, closing = _BRACKETS.get(step.kind, ("[", "]"))
        lines.append(f'  {ids[step.id]}{opening}"{label}"{closing}')
    for step in plan.steps:
        for dep in step.deps:
            lines.append(f"  {ids[dep]} --> {ids[step.id]}")
    return "\n".join(lines) + "\n"
