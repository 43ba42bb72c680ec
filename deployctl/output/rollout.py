"""The rollout's shape for reviewers: stages with their traffic, waits,
gates and approvals, the totals (minimum wall time, one-way doors), and a
mermaid graph of the waves.  Shared by ``plan --offline`` and the live plan
diff, so a PR comment shows the same shape either way."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from deployctl.core.kinds import StepKind
from deployctl.core.plan import Plan, Step
from deployctl.execute.timeline import stage_of
from deployctl.manifest.durations import format_duration

MAX_ROWS = 100  # stages listed in a PR comment; past that, a note
MAX_GRAPH = 60  # stages drawn; a bigger graph is no longer readable


@dataclass
class Stage:
    name: str
    region: str | None
    traffic: int | None = None
    wait: float = 0.0
    steps: int = 0
    gates: list[str] = field(default_factory=list)
    approvals: list[str] = field(default_factory=list)
    one_way: list[str] = field(default_factory=list)
    after: set[str] = field(default_factory=set)  # stages this one waits for


def _gate(step: Step) -> bool:
    return step.kind.startswith(("gate.", "smoke.")) or step.kind == "gate"


def stages(plan: Plan) -> list[Stage]:
    """Every stage, in plan order."""
    out: dict[str, Stage] = {}
    where = {s.id: stage_of(s) for s in plan.steps}
    for step in plan.steps:
        name = where[step.id]
        st = out.setdefault(name, Stage(name, step.region))
        st.steps += 1
        st.wait += step.wait
        if step.traffic is not None:
            st.traffic = max(st.traffic or 0, step.traffic)
        if _gate(step):
            st.gates.append(step.description)
        if step.kind == StepKind.APPROVAL:
            st.approvals.append(step.id)
        if step.one_way:
            st.one_way.append(step.id)
        st.after.update(where[d] for d in step.deps if where[d] != name)
    return list(out.values())


def totals(plan: Plan) -> list[str]:
    s = plan.summary
    approvals = ", ".join(s.approvals) or "none"
    doors = ", ".join(s.one_way_doors) or "none"
    if s.rollback_horizon is None:
        horizon = "every step can be rolled back automatically"
    else:
        horizon = (
            f"automatic until {s.rollback_horizon} runs; after that, rollback can return "
            f"only to the state just after {s.rollback_horizon}"
        )
    return [
        f"{s.steps} steps; minimum wall time {format_duration(s.min_wall_seconds)} (critical path)",
        f"approvals: {approvals}",
        f"one-way doors: {doors}",
        f"rollback: {horizon}",
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _label(text: str) -> str:
    return re.sub(r'["<>{}\[\]]', "'", text)


def mermaid(plan: Plan) -> str:
    """A flowchart of the stages, one subgraph per region (a wave)."""
    rows = stages(plan)
    if not rows or len(rows) > MAX_GRAPH:
        return ""
    ids = {st.name: f"s{n}" for n, st in enumerate(rows)}
    lines = ["```mermaid", "flowchart LR"]
    regions: dict[str, list[Stage]] = {}
    for st in rows:
        regions.setdefault(st.region or "", []).append(st)
    for n, (region, members) in enumerate(regions.items()):
        indent = "    "
        if region:
            lines.append(f'    subgraph w{n}["{_label(region)}"]')
            indent = "        "
        for st in members:
            short = st.name.removeprefix(f"{st.region}/") if st.region else st.name
            bits = [short]
            if st.traffic is not None:
                bits.append(f"{st.traffic}%")
            if st.wait:
                bits.append(format_duration(st.wait))
            if st.approvals and "approv" not in short:
                bits.append("approval")
            if st.one_way:
                bits.append("ONE-WAY")
            shape = ('{{"', '"}}') if st.approvals else ('["', '"]')
            lines.append(f"{indent}{ids[st.name]}{shape[0]}{_label(' · '.join(bits))}{shape[1]}")
        if region:
            lines.append("    end")
    for st in rows:
        for before in sorted(st.after, key=lambda b: ids[b]):
            lines.append(f"    {ids[before]} --> {ids[st.name]}")
    lines.append("```")
    return "\n".join(lines)


def render_markdown(plan: Plan) -> str:
    """Totals, the stage table and the graph (unredacted: callers redact)."""
    out = ["#### Rollout", ""]
    out += [f"- {_cell(line)}" for line in totals(plan)]
    rows = stages(plan)
    out += ["", "| stage | traffic | waits | gates | approval |", "|---|---|---|---|---|"]
    for st in rows[:MAX_ROWS]:
        traffic = f"{st.traffic}%" if st.traffic is not None else ""
        wait = format_duration(st.wait) if st.wait else ""
        approval = ", ".join(f"`{a}`" for a in st.approvals)
        if st.one_way:
            approval = (approval + " " if approval else "") + "ONE-WAY"
        out.append(
            f"| `{_cell(st.name)}` | {traffic} | {wait} | {_cell('; '.join(st.gates))} | {approval} |"
        )
    if len(rows) > MAX_ROWS:
        out.append(f"\n_{len(rows) - MAX_ROWS} more stages not listed._")
    graph = mermaid(plan)
    if graph:
        out += ["", graph]
    return "\n".join(out) + "\n"
