"""The gate loop: check every ``interval`` for ``duration``; decide from the results.

- A tripped rollback trigger fails the gate at once.
- A failed check counts; the gate fails when failed checks exceed
  ``failure_limit`` (Argo's rule).
- No data follows ``missing_data``: ``fail`` counts it as a failed check,
  ``inconclusive`` pauses the run for a person (exit 6, ``deployctl approve``
  lets it pass), ``ignore`` skips it.  It is never a silent pass by default:
  a plan without the key, or with an unknown value, fails.
- Every gate kind's timing and policy are read as a ``GateTiming``
  (core/params.py): ``gate.analysis`` from its typed params; smoke tests,
  ``alb.drain`` and plugins' gates as a ``CheckTiming``.
- A resumed gate starts its window again: a half-watched bake proves nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deployctl.core.params import gate_timing, missing_policy
from deployctl.core.plan import Step
from deployctl.core.ports import FAIL, NO_DATA, Action, StepRequest
from deployctl.core.status import StepStatus
from deployctl.execute import api

if TYPE_CHECKING:
    from deployctl.execute.context import RunContext


def run_gate(ctx: RunContext, step: Step, action: Action, request: StepRequest) -> api.StepResult:
    st = ctx.state.step(step.id)
    attempt = request.attempt
    if st.approved_by is not None:  # a person let a paused gate pass
        ctx.write(
            api.DONE, step.id, attempt=attempt, data={"outputs": {}, "approved_by": st.approved_by}
        )
        return api.StepResult(step.id, StepStatus.DONE, attempt=attempt)
    timing = gate_timing(step.kind, request.params)
    live = action.window(request)
    if live is None:
        live = step.wait if timing.duration is None else timing.duration
    duration = float(live or 0.0)
    interval = float(timing.interval or duration or 60.0)
    limit = int(timing.failure_limit or 0)
    policy = missing_policy(timing)
    start = ctx.clock.now()
    end = start + duration
    failures = 0
    number = 0
    while True:
        now = ctx.clock.now()
        due = min(now + interval, end)
        if due > now and not ctx.clock.sleep(due - now, ctx.halt):
            ctx.write(
                api.STEP_INTERRUPTED,
                step.id,
                attempt=attempt,
                data={"during": "gate", "checks": number},
            )
            return api.StepResult(step.id, StepStatus.INTERRUPTED, attempt=attempt)
        number += 1
        result = action.check(request)
        verdict = result.status
        if result.status == FAIL or (result.status == NO_DATA and policy == "fail"):
            failures += 1
        remaining = max(0.0, end - ctx.clock.now())
        ctx.write(
            api.CHECK,
            step.id,
            attempt=attempt,
            data={
                "number": number,
                "window_start": start,
                "window": duration,
                "failures": failures,
                "limit": limit,
                "policy": policy,
                "remaining": remaining,
                **result.to_json(),
            },
        )
        ctx.reporter.gate_checked(step, number, result, remaining)
        error = None
        if result.tripped:
            error = f"gate {step.id}: rollback trigger tripped: {', '.join(result.tripped)}"
        elif failures > limit:
            error = (
                f"gate {step.id}: {failures} failed check(s) > failure_limit {limit}"
                f" ({result.detail})"
            )
        if error:
            ctx.write(api.FAILED, step.id, attempt=attempt, data={"error": error})
            return api.StepResult(step.id, StepStatus.FAILED, error=error, attempt=attempt)
        if verdict == NO_DATA and policy == "inconclusive":
            reason = f"gate {step.id} is inconclusive: {result.detail}"
            ctx.write(api.WAITING_RECORD, step.id, attempt=attempt, data={"reason": reason})
            return api.StepResult(step.id, StepStatus.WAITING, attempt=attempt)
        if ctx.clock.now() >= end:
            break
    ctx.write(api.DONE, step.id, attempt=attempt, data={"outputs": {}, "checks": number})
    return api.StepResult(step.id, StepStatus.DONE, attempt=attempt)
