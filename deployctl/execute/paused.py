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

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

from deployctl.core.kinds import StepKind
from deployctl.core.params import GateAnalysisParams
from deployctl.core.plan import Step
from deployctl.core.ports import FAIL, CheckResult
from deployctl.core.records import Record
from deployctl.execute import api
from deployctl.execute.context import RunContext
from deployctl.execute.state import DONE, FAILED, fold
from deployctl.manifest.durations import format_duration

GATE = StepKind.GATE_ANALYSIS
APPROVAL_POLL = 15.0  # seconds between looks at the journal for an approval


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
    return min(
        (float(GateAnalysisParams.from_params(g.params).interval or 60.0) for g in gates),
        default=60.0,
    )


def judge(ctx: RunContext, since: float) -> list[Verdict]:
    """Each watching gate's triggers and alarms over ``[since, now]``; reads only."""
    window = ctx.clock.now() - since
    if window <= 0:
        return []
    out = []
    for gate in watching(ctx):
        action = ctx.registry.get(gate.kind)
        # Only the triggers: a stage threshold belongs to its own stage's window.
        resolved = GateAnalysisParams.from_params(ctx.resolver.resolve(gate, dict(gate.params)))
        params = replace(resolved, metric=None, threshold=None, interval=window).to_params()
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


def judge_pause(ctx: RunContext) -> None:
    """On resume: judge the time since the run's last record; a tripped
    trigger is journaled as its gate's failure, so the run rolls back."""
    if any(st.status == FAILED for st in ctx.state.steps.values()):
        return  # it rolls back anyway
    verdicts = judge(ctx, ctx.state.last_at)
    report(ctx, verdicts)
    for verdict in verdicts:
        if verdict.tripped:
            record(ctx, verdict)


def wait(
    ctx: RunContext,
    waiting: tuple[str, ...],
    seconds: float,
    records: Callable[[], list[Record]],
    interrupt: threading.Event,
    renew: Callable[[], None],
) -> list[Verdict] | None:
    """Wait up to ``seconds`` for someone to approve one of ``waiting``,
    judging the triggers every gate interval meanwhile (reads only).
    ``[]``: approved; tripped verdicts: roll back; None: the time is up (or
    an interrupt came)."""
    clock = ctx.clock
    every = interval(watching(ctx))
    deadline = clock.now() + seconds
    judged = clock.now()
    ctx.reporter.message(
        f"run {ctx.run.run_id} is waiting for approval of {', '.join(waiting)}; watching "
        f"the triggers every {format_duration(every)} for up to {format_duration(seconds)}"
    )
    while clock.now() < deadline:
        if not clock.sleep(min(every, APPROVAL_POLL, deadline - clock.now()), interrupt):
            return None
        renew()
        state = fold(ctx.plan.by_id, records())
        if any(state.step(sid).approved_by is not None for sid in waiting):
            return []
        if clock.now() - judged >= every:
            tripped = [v for v in judge(ctx, judged) if v.tripped]
            judged = clock.now()
            if tripped:
                return tripped
    return None
