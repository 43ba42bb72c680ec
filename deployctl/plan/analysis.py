"""Facts about a compiled plan for reviewers: wall time, approvals, one-way doors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deployctl.plan.api import Plan


@dataclass(frozen=True)
class Summary:
    steps: int
    critical_path: tuple[str, ...]
    min_wall_seconds: float
    approvals: tuple[str, ...]
    one_way_doors: tuple[str, ...]
    # The first one-way door: rollback can undo what came before it, never it.
    # None means automatic rollback can undo every step.
    rollback_horizon: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "min_wall_seconds": self.min_wall_seconds,
            "critical_path": list(self.critical_path),
            "approvals": list(self.approvals),
            "one_way_doors": list(self.one_way_doors),
            "rollback_horizon": self.rollback_horizon,
        }


def summarize(plan: Plan) -> Summary:
    # Longest path by wait time; plan.steps is already topological.
    finish: dict[str, float] = {}
    via: dict[str, str | None] = {}
    for step in plan.steps:
        parent = max(step.deps, key=finish.__getitem__, default=None)
        finish[step.id] = (finish[parent] if parent else 0.0) + step.wait
        via[step.id] = parent
    # On ties prefer the later step, so the path runs to the real end of the plan.
    end = max(reversed(finish), key=finish.__getitem__, default=None)
    path: list[str] = []
    while end is not None:
        path.append(end)
        end = via[end]
    doors = tuple(s.id for s in plan.steps if s.one_way)
    return Summary(
        steps=len(plan.steps),
        critical_path=tuple(reversed(path)),
        min_wall_seconds=max(finish.values(), default=0.0),
        approvals=tuple(s.id for s in plan.steps if s.kind == "approval"),
        one_way_doors=doors,
        rollback_horizon=doors[0] if doors else None,
    )
