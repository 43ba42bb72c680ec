"""Paused runs stay watched.

A run that stops for an approval (exit 6), an interrupt or a crash leaves
traffic where it was: on the new version, maybe at 10%, maybe at 100%.
Nobody checks the rollback triggers while no process runs.  So:

- :func:`judge` reads, for each region where the new version has traffic,
  the triggers (and ``rollback.alarms``) of that region's gate over the
  whole time since the last journal record: one metric read per region.
  ``resume`` calls it before going on, and rolls back if a trigger tripped.
- ``apply --wait-for-approval DURATION`` keeps the process alive while it
  waits, judging every gate interval, and goes on as soon as someone runs
  ``deployctl approve`` (:meth:`Executor._await_approval`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from deployctl.actions.api import FAIL, CheckResult
from deployctl.execute import api
from deployctl.execute.context import RunContext
from deployctl.execute.state import DONE
from deployctl.manifest.durations import format_duration
from deployctl.plan.api import Step

GATE = "gate.analysis"


@dataclass(frozen=True)
class Verdict:
    gate: Step
    result: CheckResult
    window: float

    @property
    def tripped(self) -> bool:
        return self.result.status == FAIL and bool(self.result.tripped)

    def reason(self) -> str:
        return (
            f"gate {self.gate.id}: rollback trigger tripped while the run was paused "
            f"({format_duration(self.window)} unwatched): {', '.join(self.result.tripped)}"
        )


def watching(ctx: RunContext) -> list[Step]:
    """For each region where a completed shift put the new version live, the
    gate whose triggers watch it (the gate of the traffic it has now, else
    the nearest one)."""
    plan, state = ctx.plan, ctx.state
    live: dict[str | None, int] = {}
    for sid in state.completed():
        step = plan.by_id[sid]
        if step.mutating and step.traffic and state.step(sid).status == DONE:
            live[step.region] = step.traffic  # completion order: the newest wins
    out = []
    for region, traffic in live.items():
        gates = [s for s in plan.steps if s.kind == GATE and s.region == region]
        if gates:
            out.append(min(gates, key=lambda g: (abs((g.traffic or 0) - traffic), g.id)))
    return out


def interval(gates: list[Step]) -> float:
    return min((float(g.params.get("interval") or 60.0) for g in gates), default=60.0)


def judge(ctx: RunContext, since: float) -> list[Verdict]:
    """Each watching gate's triggers and alarms over ``[since, now]``; reads only."""
    window = ctx.clock.now() - since
    if window <= 0:
        return []
    out = []
    for gate in watching(ctx):
        action = ctx.registry.get(gate.kind)
        # Only the triggers: a stage threshold belongs to its own stage's window.
        params = ctx.resolver.resolve(gate, dict(gate.params))
        params |= {"metric": None, "threshold": None, "interval": window}
        request = ctx.request(replace(gate, params=params), params, 0)
        out.append(Verdict(gate, action.check(request), window))
    return out


def record(ctx: RunContext, verdict: Verdict) -> str:
    """Journal a tripped verdict as the gate's check and failure; the reason."""
    reason = verdict.reason()
    ctx.write(
        api.CHECK,
        verdict.gate.id,
        data={"paused_window": verdict.window, **verdict.result.to_json()},
    )
    ctx.write(api.FAILED, verdict.gate.id, data={"error": reason})
    return reason


def report(ctx: RunContext, verdicts: list[Verdict]) -> None:
    for v in verdicts:
        ctx.reporter.message(
            f"checked the {format_duration(v.window)} the run was paused, "
            f"{v.gate.id}: {v.result.status} ({v.result.detail})"
        )
