"""Rollback: undo completed steps in reverse completion order.

Steps with no ``undo`` (reads, checks, approvals) are passed over.  A
completed one-way door (or a step marked not reversible) stops the rollback:
everything before it stays applied, and the outcome says what is left for a
person.  Undo calls are journaled intent -> done like forward ones; undos
must be idempotent because a rollback cut by a crash runs them again.

``rollback.scope: wave`` (multi-region plans) keeps the region waves before
the failing one: see :func:`kept_by_scope`.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from deployctl.core.plan import Plan, Step
from deployctl.core.status import RecordType
from deployctl.errors import (
    EXIT_INTERRUPTED,
    EXIT_ROLLBACK_INCOMPLETE,
    EXIT_ROLLED_BACK,
    LockLost,
    StateError,
)
from deployctl.execute import api
from deployctl.execute.context import RunContext
from deployctl.execute.state import FAILED, UNDONE, RunState


def filled(text: str | None, params: Mapping[str, Any] | None) -> str:
    """An undo description with ``${name}`` filled from the step's resolved params
    ("alias live back to ${stable_version}" -> "... back to 7"); unknown names stay."""
    if not text or not params:
        return text or ""
    return re.sub(
        r"\$\{\s*([A-Za-z0-9_]+)\s*\}",
        lambda m: str(params[m.group(1)]) if m.group(1) in params else m.group(0),
        text,
    )


def wave_of(step: Step) -> int | None:
    """The region wave (``wave:N`` tag) a step belongs to, if any."""
    for tag in step.tags:
        if tag.startswith("wave:"):
            return int(tag[5:])
    return None


def serves(step: Step) -> tuple[str, ...]:
    """The regions a step sends users to (``serves:REGION`` tags): the
    per-region routing records of a multi-region plan."""
    return tuple(t[len("serves:") :] for t in step.tags if t.startswith("serves:"))


def kept_by_scope(plan: Plan, state: RunState) -> set[str]:
    """Completed steps a rollback leaves applied.

    Two rules, both read from the journal only, so a resumed rollback agrees:

    - ``rollback.scope: wave`` keeps the region waves before the failing one
      (:func:`_earlier_waves`);
    - a step that routes users to regions (``serves:REGION``) stays while any
      of those regions keeps the new version: removing the records of a
      region that still serves would send its users nowhere.
    """
    kept = _earlier_waves(plan, state)
    serving = {plan.by_id[sid].region for sid in kept if plan.by_id[sid].traffic}
    return kept | {
        sid
        for sid in state.completed()
        if sid not in kept and serving.intersection(serves(plan.by_id[sid]))
    }


def _earlier_waves(plan: Plan, state: RunState) -> set[str]:
    """Completed steps ``rollback.scope: wave`` leaves applied.

    The failing wave is the lowest wave of a failed step (past every wave
    when the failure is outside them, e.g. a migration phase after the
    rollout).  Kept: the steps of earlier waves, and steps in no wave that
    completed before the last of them.  Undone: the failing wave and
    everything outside a wave that ran after the kept ones.  With no failed
    step (a rollback a person asked for) or ``scope: all``, nothing is kept.
    """
    if plan.rollback_scope != "wave":
        return set()
    failed = [sid for sid, st in state.steps.items() if st.status == FAILED]
    if not failed:
        return set()
    waves = [w for sid in failed if (w := wave_of(plan.by_id[sid])) is not None]
    failing = min(waves) if waves else math.inf
    done = state.completed()
    earlier = [sid for sid in done if (w := wave_of(plan.by_id[sid])) is not None and w < failing]
    if not earlier:
        return set()
    boundary = max(state.step(sid).done_seq or 0 for sid in earlier)
    return set(earlier) | {
        sid
        for sid in done
        if wave_of(plan.by_id[sid]) is None and (state.step(sid).done_seq or 0) <= boundary
    }


def _drain(ctx: RunContext, sid: str, seconds: float) -> bool:
    """Wait while the side an undo moved traffic off finishes its requests
    (its target group's deregistration delay), before the next undo may
    change that side; False if interrupted (the drain is then waited again)."""
    ctx.reporter.message(f"draining {sid}: waiting {seconds:g}s for in-flight requests")
    if not ctx.clock.sleep(seconds, ctx.interrupted):
        return False
    ctx.write(api.DRAINED, sid, data={"seconds": seconds})
    return True


def _interrupted(ctx: RunContext, left: int) -> api.Outcome:
    # Resumable: the next apply or resume sees rollback_started and goes on here.
    ctx.write(RecordType.INTERRUPTED, data={"by": "signal", "during": "rollback"})
    ctx.journal.set_status(ctx.run.run_id, api.INTERRUPTED)
    rid = ctx.run.run_id
    return api.Outcome(
        rid,
        api.INTERRUPTED,
        EXIT_INTERRUPTED,
        f"run {rid} interrupted during rollback; {left} undo(s) left",
        (api.NextAction("finish the rollback with", ("resume", rid), ctx.cli_options),),
    )


@contextlib.contextmanager
def _lease_kept(ctx: RunContext) -> Iterator[None]:
    """Renew the lease from a thread while a rollback runs.  The walker renews
    from its main loop, but a rollback waits inline, for longer than a lease:
    the health of the side an undo moves traffic back to, a drain of the
    side it leaves.  A lost lock ends the keeping; the send guard then
    refuses every further call."""
    lock = ctx.lock
    if lock is None:
        yield
        return
    every = min(15.0, lock.lease.seconds / 8)
    done = threading.Event()

    def keep() -> None:
        while not done.wait(every):
            try:
                lock.renew()
            except LockLost:
                return
            except StateError as exc:
                ctx.reporter.message(f"lease not renewed, trying again: {exc}")

    keeper = threading.Thread(target=keep, name="deployctl-lease", daemon=True)
    keeper.start()
    try:
        yield
    finally:
        done.set()
        keeper.join()


def roll_back(ctx: RunContext, reason: str) -> api.Outcome:
    with _lease_kept(ctx):
        return _roll_back(ctx, reason)


def _roll_back(ctx: RunContext, reason: str) -> api.Outcome:
    plan, state = ctx.plan, ctx.state
    if state.rollback_reason is None:
        ctx.write(api.ROLLBACK_STARTED, data={"reason": reason})
        state.rollback_reason = reason
    ctx.reporter.message(f"rolling back: {reason}")
    kept = kept_by_scope(plan, state)
    if kept:
        ctx.reporter.message(
            f"{len(kept)} step(s) stay applied: earlier waves (rollback.scope: wave) "
            "and the routing of regions that keep the new version"
        )
    todo = [
        sid
        for sid in reversed(state.completed())
        if sid not in kept
        and (
            plan.by_id[sid].undo is not None
            or plan.by_id[sid].one_way
            or not plan.by_id[sid].reversible
        )
    ]
    left: list[str] = []
    stop = ""
    # A drain cut short by a crash or an interrupt is waited again, whole.
    for sid in [s for s, st in state.steps.items() if st.drain_left > 0]:
        if not _drain(ctx, sid, state.step(sid).drain_left):
            return _interrupted(ctx, len(todo))
    for n, sid in enumerate(todo):
        step = plan.by_id[sid]
        if ctx.lock is not None:
            ctx.lock.renew()
        if ctx.interrupted.is_set():
            return _interrupted(ctx, len(todo) - n)
        if step.one_way or not step.reversible:
            what = "a one-way door" if step.one_way else "not reversible"
            stop = f"rollback stopped at {sid} ({what}); steps before it stay applied"
            ctx.write(api.ROLLBACK_STOPPED, sid, data={"why": what})
            left = [
                f"{s}: {filled(plan.by_id[s].undo, state.step(s).params) or 'one-way'}"
                for s in todo[n:]
            ]
            break
        st = state.step(sid)
        try:
            # Inside the try: a ${ssm:...} the undo needs may be unreadable now.
            request = ctx.request(step, st.params or {}, st.attempt)
            ctx.write(
                api.UNDO_INTENT,
                sid,
                attempt=st.attempt,
                token=request.token,
                data={"undo": step.undo},
            )
            ctx.guard.check(f"the undo of {sid}")
            result = ctx.registry.get(step.kind).undo(request, st.undo_outputs())
        except StateError:  # the journal or the lock is gone: stop, undo nothing more
            raise
        except Exception as exc:  # journaled and reported: a person takes over from here
            error = str(exc) or type(exc).__name__
            ctx.write(api.UNDO_FAILED, sid, attempt=st.attempt, data={"error": error})
            stop = f"undo of {sid} failed: {error}"
            left = [
                f"{s}: {filled(plan.by_id[s].undo, state.step(s).params)}"
                for s in todo[n:]
                if plan.by_id[s].undo is not None
            ]
            break
        ctx.write(api.UNDONE, sid, attempt=st.attempt, data=dict(result or {}))
        note = f" ({result['note']})" if result and result.get("note") else ""
        ctx.reporter.message(f"undone {sid}: {filled(step.undo, st.params)}{note}")
        drain = float((result or {}).get("drain_seconds") or 0.0)
        if drain > 0 and not _drain(ctx, sid, drain):
            return _interrupted(ctx, len(todo) - n - 1)
    if stop:
        status, code = api.ROLLBACK_INCOMPLETE, EXIT_ROLLBACK_INCOMPLETE
        message = f"run {ctx.run.run_id}: {stop}; manual action needed"
    else:
        status, code = api.ROLLED_BACK, EXIT_ROLLED_BACK
        undone = sum(state.step(s).status == UNDONE for s in todo)
        scope = f", earlier waves kept ({len(kept)} step(s))" if kept else ""
        message = (
            f"run {ctx.run.run_id} rolled back cleanly ({undone} step(s) undone{scope}): {reason}"
        )
    ctx.write(api.RUN_FINISHED, data={"status": status, "left": left})
    ctx.journal.set_status(ctx.run.run_id, status)
    return api.Outcome(ctx.run.run_id, status, code, message, tuple(left))
