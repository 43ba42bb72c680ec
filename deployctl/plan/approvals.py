"""Insert approval steps where ``approvals: - before: X`` says.

``X`` is a step id, or a tag: ``switch-traffic``, ``promote``, ``stage:N``,
``region:NAME``, ``phase:NAME``, ``flag:NAME``.  Within each
region the approval goes before the first matched steps and waits for
everything they waited for.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from deployctl.core.params import ApprovalParams
from deployctl.diagnostics import Diagnostic
from deployctl.manifest import model as m
from deployctl.plan.api import Step
from deployctl.plan.graph import StepGraph


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


def _matches(g: StepGraph, ref: str, prefix: str) -> list[str]:
    if f"{prefix}{ref}" in g.steps:
        return [f"{prefix}{ref}"]
    if ref in g.steps:
        return [ref]
    return [sid for sid, step in g.steps.items() if sid.startswith(prefix) and ref in step.tags]


def known_refs(g: StepGraph) -> list[str]:
    tags = sorted(
        {
            t
            for step in g.steps.values()
            for t in step.tags
            if not t.startswith(("region:", "flag:", "serves:"))
        }
    )
    return tags


def insert_approvals(
    g: StepGraph, approvals: Sequence[m.Approval], source: m.Source, prefix: str = ""
) -> list[Diagnostic]:
    errors = []
    for approval in approvals:
        matched = _matches(g, approval.before, prefix)
        if not matched:
            names = ", ".join(known_refs(g))
            errors.append(
                source.diag(
                    ("approvals", approval.index, "before"),
                    f"approval before {approval.before!r} matches no step or phase (known: {names}, or a step id)",
                )
            )
            continue
        by_region: dict[str | None, list[str]] = {}
        for sid in matched:
            by_region.setdefault(g.steps[sid].region, []).append(sid)
        for region, ids in by_region.items():
            roots = g.roots(ids)
            deps = tuple(dict.fromkeys(d for r in roots for d in g.steps[r].deps))
            where = f"{region}/" if region else ""
            step_id = f"{prefix}{where}approve/before-{_slug(approval.before)}"
            if step_id in g.steps:
                continue
            g.add(
                Step(
                    step_id,
                    ApprovalParams.KIND,
                    f"wait for a person to approve {approval.before}",
                    ApprovalParams(reason=f"before {approval.before}").to_params(),
                    deps,
                    region,
                    ("phase:approval",),
                    mutating=False,
                )
            )
            for root in roots:
                g.add_deps(root, [step_id])
    return errors
