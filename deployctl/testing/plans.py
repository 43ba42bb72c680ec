"""Hand-built plans and a reporter that keeps what it was told, for tests
that drive the executor without a plan file."""

from __future__ import annotations

from typing import Any

from deployctl.core.kinds import StepKind
from deployctl.core.plan import Plan, Step
from deployctl.core.ports import Reporter
from deployctl.core.records import Record

READ_ONLY_KINDS = (
    StepKind.APPROVAL,
    StepKind.GATE_ANALYSIS,
    StepKind.SMOKE_HTTP,
    StepKind.ALB_DISCOVER,
)


def step(sid: str, kind: str = "noop", deps: tuple[str, ...] = (), **kw: Any) -> Step:
    """A step with test defaults: read-only kinds do not mutate, mutating ones
    have an undo."""
    kw.setdefault("description", sid)
    if kind in READ_ONLY_KINDS:
        kw.setdefault("mutating", False)
    if kw.get("mutating", True):
        kw.setdefault("undo", f"undo {sid}")
    return Step(id=sid, kind=kind, deps=deps, **kw)


def make_plan(*steps: Step, project: str = "demo", environment: str = "prod", **kw: Any) -> Plan:
    return Plan(
        kind="Deployment",
        project=project,
        environment=environment,
        source="plans/demo.yaml",
        steps=tuple(steps),
        **kw,
    )


class Recorder(Reporter):
    """Keeps what the executor reported, for assertions."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.messages: list[str] = []
        self.records: list[tuple[str, str | None]] = []

    def step_started(self, step: Step, attempt: int) -> None:
        self.started.append(step.id)

    def message(self, text: str) -> None:
        self.messages.append(text)

    def record(self, record: Record) -> None:
        self.records.append((record.type, record.step_id))
