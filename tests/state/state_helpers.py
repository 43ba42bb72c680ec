"""Plans and stores for the state tests; the fixtures are in conftest.py."""

from __future__ import annotations

from typing import Any

from deployctl.core.plan import Plan, Step

TABLE = "deployctl-state"


def step(sid: str, deps: tuple[str, ...] = (), **kw: Any) -> Step:
    return Step(id=sid, kind="noop", description=sid, deps=deps, undo=f"undo {sid}", **kw)


def make_plan(*steps: Step, project: str = "demo", environment: str = "prod") -> Plan:
    return Plan(
        kind="Deployment",
        project=project,
        environment=environment,
        source="plans/demo.yaml",
        steps=tuple(steps),
    )


PLAN = make_plan(step("a"), step("b", ("a",)), step("c", ("b",)))
STORED = PLAN.to_json(with_summary=False)
