"""The forward walk: a bounded thread pool over the step DAG.

The main thread schedules (a step starts once its dependencies are complete,
ties in plan order), renews the lock lease and reacts to results; workers run
one step each.  A failure, a pause or an interrupt stops new work, and the
walk returns only after in-flight steps have finished and been journaled.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import queue
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

from deployctl.core.kinds import StepKind
from deployctl.core.plan import Step
from deployctl.core.refs import is_unresolved
from deployctl.core.status import StepStatus
from deployctl.errors import DeployctlError, LockLost, ResourceChanged, StateError
from deployctl.execute import api, review
from deployctl.execute.context import RunContext
from deployctl.execute.gates import run_gate
from deployctl.execute.state import DONE, PENDING, StepState

APPROVAL = StepKind.APPROVAL
STALE = StepStatus.STALE  # a reviewed run's step found its resource changed by someone else
_RENEW_EVERY = 15.0  # seconds the main loop may block before renewing the lease


@dataclass(frozen=True)
class WalkResult:
    status: str  # done | failed | waiting | interrupted | stale
    failed: tuple[str, ...] = ()
    reason: str = ""
    waiting: tuple[str, ...] = ()


class Walker:
    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.wake: queue.Queue[str | None] = queue.Queue()
        self._futures: dict[str, Future[api.StepResult]] = {}
        # Steps whose done record is queued but not yet durable: the main
        # loop schedules their dependents at once (see _run_step).
        self._early: dict[str, api.StepResult] = {}
        self._dependents: dict[str, list[str]] = {}
        self._ready: list[tuple[int, str]] = []

    def _done(self, step_id: str, _future: Future[api.StepResult]) -> None:
        self.wake.put(step_id)

    def nudge(self) -> None:
        """Wake the main loop (signal handlers call this after setting ``halt``)."""
        self.wake.put(None)

    def _complete(self, step: Step, st: StepState) -> bool:
        # A done step with a wait (a bake) that was cut short waits again.
        return st.status == DONE and (step.wait <= 0 or st.waited or self._is_gate(step))

    def _is_gate(self, step: Step) -> bool:
        return step.kind in self.ctx.registry and self.ctx.registry.get(step.kind).gate

    def walk(self) -> WalkResult:
        ctx, plan = self.ctx, self.ctx.plan
        order = {s.id: n for n, s in enumerate(plan.steps)}
        complete = {s.id for s in plan.steps if self._complete(s, ctx.state.step(s.id))}
        blockers = {s.id: sum(d not in complete for d in s.deps) for s in plan.steps}
        dependents: dict[str, list[str]] = {s.id: [] for s in plan.steps}
        for s in plan.steps:
            for dep in s.deps:
                dependents[dep].append(s.id)
        self._dependents = dependents
        ready = [(order[sid], sid) for sid, n in blockers.items() if n == 0 and sid not in complete]
        heapq.heapify(ready)
        self._ready = ready  # read by workers: is work waiting for a free worker?
        failed: list[str] = []
        waiting: list[str] = []
        reasons: list[str] = []
        stale: list[str] = []
        stale_reasons: list[str] = []
        inflight: set[str] = set()
        settling: set[str] = set()  # in flight only to make their done record durable
        # The journal or the lock failed: no new step, the in-flight ones end
        # (each refused its next write or send), then the first error goes up.
        fatal: list[StateError] = []
        renew_every = _RENEW_EVERY
        if ctx.lock is not None:
            renew_every = min(_RENEW_EVERY, ctx.lock.lease.seconds / 8)

        def stop(exc: StateError) -> None:
            fatal.append(exc)
            ctx.halt.set()

        def finish(sid: str, result: api.StepResult) -> None:
            if result.status == DONE:
                complete.add(sid)
                for child in dependents[sid]:
                    blockers[child] -= 1
                    if blockers[child] == 0:
                        heapq.heappush(ready, (order[child], child))
            elif result.status == StepStatus.FAILED:
                failed.append(sid)
                reasons.append(result.error or "failed")
                ctx.halt.set()
            elif result.status == StepStatus.WAITING:
                waiting.append(sid)
            elif result.status == STALE:
                stale.append(sid)
                stale_reasons.append(result.error or "stale")
                ctx.halt.set()

        # Twice the parallelism: a settling step's thread waits for its commit
        # while the dependents it released already run.
        with ThreadPoolExecutor(max_workers=2 * ctx.parallelism, thread_name_prefix="step") as pool:
            while True:
                while (
                    ready
                    and not (ctx.halt.is_set() or waiting)
                    and len(inflight) - len(settling) < ctx.parallelism
                ):
                    _, sid = heapq.heappop(ready)
                    step = plan.by_id[sid]
                    if step.kind == APPROVAL:
                        finish(sid, self._approval(step))
                        continue
                    inflight.add(sid)
                    future = pool.submit(self._run_step, step)
                    future.add_done_callback(functools.partial(self._done, sid))
                    self._futures[sid] = future
                if not inflight:
                    break
                try:
                    got = self.wake.get(timeout=renew_every)
                except queue.Empty:
                    got = None
                if ctx.lock is not None and not fatal:
                    self._renew(stop)
                if got is None or got not in inflight:
                    continue
                early = self._early.pop(got, None)
                if early is not None:
                    settling.add(got)
                    finish(got, early)
                    continue
                if not self._futures[got].done():
                    continue
                inflight.discard(got)
                try:
                    result = self._futures.pop(got).result()
                except StateError as exc:
                    stop(exc)
                    continue
                finally:
                    released = got in settling
                    settling.discard(got)
                ctx.reporter.step_finished(plan.by_id[got], result)
                if not released:
                    finish(got, result)

        if fatal:
            raise fatal[0]
        if ctx.interrupted.is_set():
            return WalkResult(StepStatus.INTERRUPTED, tuple(failed), "; ".join(reasons))
        if failed:
            return WalkResult(StepStatus.FAILED, tuple(failed), "; ".join(reasons))
        if stale:
            return WalkResult(STALE, tuple(stale), "; ".join(stale_reasons))
        if waiting:
            return WalkResult(StepStatus.WAITING, waiting=tuple(waiting))
        missing = [s.id for s in plan.steps if s.id not in complete]
        if missing:
            return WalkResult(
                StepStatus.FAILED, (missing[0],), f"steps never became ready: {missing[:5]}"
            )
        return WalkResult(StepStatus.DONE)

    def _renew(self, stop: Callable[[StateError], None]) -> None:
        """Renew the lease.  A lost lock stops the run; a store that does not
        answer is reported and tried again at the next turn (the send guard
        stops every call once too little of the lease is left)."""
        assert self.ctx.lock is not None
        try:
            self.ctx.lock.renew()
        except LockLost as exc:
            stop(exc)
        except StateError as exc:
            self.ctx.reporter.message(f"lease not renewed, trying again: {exc}")

    def _approval(self, step: Step) -> api.StepResult:
        ctx = self.ctx
        st = ctx.state.step(step.id)
        if st.approved_by is None and ctx.auto_approve:
            ctx.write(api.APPROVED, step.id, data={"by": ctx.user, "auto": True})
        if ctx.state.step(step.id).approved_by is not None:
            ctx.write(api.DONE, step.id, data={"outputs": {}})
            return api.StepResult(step.id, DONE)
        if st.status != StepStatus.WAITING:
            reason = str(step.params.get("reason") or step.description)
            ctx.write(api.WAITING_RECORD, step.id, data={"reason": reason})
        return api.StepResult(step.id, StepStatus.WAITING)

    def _run_step(self, step: Step) -> api.StepResult:
        ctx = self.ctx
        st = ctx.state.step(step.id)
        attempt = st.attempt
        try:
            if st.status == DONE:  # a resumed bake: wait the whole window again
                return self._wait(step, st.attempt)
            action = ctx.registry.get(step.kind)
            params = ctx.resolver.resolve(step, dict(step.params))
            shown = step
            if is_unresolved(step.description):
                with contextlib.suppress(DeployctlError):
                    shown = replace(step, description=ctx.resolver.resolve(step, step.description))
            reviewed = ctx.state.reviewed is not None and not action.gate
            if reviewed and not st.intents:
                # Nothing of this step can be live yet: anything changed is someone else's.
                try:
                    review.check(ctx.state, step, action, params)
                except review.StaleResources as exc:
                    ctx.write(api.STALE_RECORD, step.id, data={"changed": _changed(exc)})
                    return api.StepResult(step.id, STALE, error=str(exc))
            ctx.reporter.step_started(shown, st.attempt + 1)
            if action.gate:
                return run_gate(ctx, step, action, ctx.request(step, params, st.attempt + 1))
            if not step.mutating:
                started = ctx.clock.now()
                outputs = dict(action.apply(ctx.request(step, params, st.attempt + 1)))
                ctx.write(
                    api.DONE,
                    step.id,
                    attempt=st.attempt + 1,
                    data={"outputs": outputs, "params": params, "started": started},
                )
                return self._wait(step, st.attempt + 1)
            if st.intents:
                # An earlier attempt may have taken effect before the process
                # died: look before sending anything again.
                seen = action.observe(ctx.request(step, params, st.attempt))
                ctx.write(
                    api.OBSERVED,
                    step.id,
                    attempt=st.attempt,
                    data={"applied": seen.applied, "detail": seen.detail},
                )
                if seen.applied:
                    data = {"outputs": dict(seen.outputs), "reconciled": True}
                    if reviewed:
                        data["seen"] = review.after(step, action, params)
                    ctx.write(api.DONE, step.id, attempt=st.attempt, data=data)
                    return self._wait(step, st.attempt)
            attempt = st.attempt + 1
            request = ctx.request(step, params, attempt)
            intent: dict[str, object] = {"params": params}
            if not st.intents:  # the state replaced is the one before the first attempt
                before = action.before(request)
                if before:
                    intent["before"] = dict(before)
            ctx.write(api.INTENT, step.id, attempt=attempt, token=request.token, data=intent)
            # What the journal says the step replaces: a conditional write
            # compares the live state with it instead of overwriting blindly.
            request = replace(request, before=dict(st.before))
            ctx.guard.check(f"step {step.id}")
            outputs = dict(action.apply(request))
            done: dict[str, object] = {"outputs": outputs}
            if reviewed:
                done["seen"] = review.after(step, action, params)
            released = 0 if step.wait > 0 or self._ready else self._released(step)
            if not released:
                # A bake follows (nothing depends on the done record yet), other
                # ready steps wait for a worker (the walk is not on one critical
                # path but saturated: commits are shared anyway), or no
                # dependent can start: the done record commits on its own.
                ctx.write(api.DONE, step.id, attempt=attempt, token=request.token, data=done)
                return self._wait(step, attempt)
            # The critical path: the done record shares one commit with the
            # intents of the dependents it releases.  It is queued and folded
            # now, the main loop schedules the dependents, and this thread
            # waits until it is durable.  A dependent sends nothing before its
            # own intent is durable, which commits after this record.
            settle = ctx.write_deferred(
                api.DONE,
                step.id,
                attempt=attempt,
                token=request.token,
                data=done,
                followers=released,
            )
            result = api.StepResult(step.id, DONE, outputs=outputs, attempt=attempt)
            self._early[step.id] = result
            self.wake.put(step.id)
            settle(True)
            return result
        except StateError:  # not the step's failure: the journal or the lock is gone
            raise
        except ResourceChanged as exc:  # someone else's change: stop, overwrite nothing
            ctx.write(api.STALE_RECORD, step.id, attempt=attempt, data={"changed": _changed(exc)})
            return api.StepResult(step.id, STALE, error=str(exc), attempt=attempt)
        except Exception as exc:  # an action's failure is data: journal it, then roll back
            error = f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc)
            ctx.write(api.FAILED, step.id, attempt=attempt, data={"error": error})
            return api.StepResult(step.id, StepStatus.FAILED, error=error, attempt=attempt)

    def starting(self) -> int:
        """How many steps the walk starts with that write their intent at once
        (mutating, first attempt, within the parallelism): a new run's first
        record may wait a moment to share their commit."""
        ctx, plan = self.ctx, self.ctx.plan
        complete = {s.id for s in plan.steps if self._complete(s, ctx.state.step(s.id))}
        count = 0
        for step in plan.steps:
            st = ctx.state.step(step.id)
            if (
                step.id in complete
                or st.status != PENDING
                or not all(d in complete for d in step.deps)
            ):
                continue
            if step.mutating and step.kind != APPROVAL and not self._is_gate(step):
                count += 1
        return min(count, ctx.parallelism)

    def _released(self, step: Step) -> int:
        """How many dependents ``step``, done, lets start (their other deps are
        done) whose first record is an intent, written right away: a mutating
        action's (a gate writes its first check a whole interval later)."""
        state, plan = self.ctx.state, self.ctx.plan
        count = 0
        for sid in self._dependents.get(step.id, ()):
            child = plan.by_id[sid]
            if not child.mutating or child.kind == APPROVAL or self._is_gate(child):
                continue
            if all(d == step.id or state.step(d).status == DONE for d in child.deps):
                count += 1
        return count

    def _wait(self, step: Step, attempt: int) -> api.StepResult:
        ctx = self.ctx
        st = ctx.state.step(step.id)
        if step.wait > 0 and not st.waited:
            if not ctx.clock.sleep(step.wait, ctx.halt):
                ctx.write(api.STEP_INTERRUPTED, step.id, attempt=attempt, data={"during": "wait"})
                return api.StepResult(step.id, StepStatus.INTERRUPTED, attempt=attempt)
            ctx.write(api.WAITED, step.id, attempt=attempt, data={"seconds": step.wait})
        return api.StepResult(step.id, DONE, outputs=dict(st.outputs), attempt=attempt)


def _changed(exc: review.StaleResources | ResourceChanged) -> dict[str, dict[str, str]]:
    return {key: {"was": was, "now": now} for key, (was, now) in exc.changed.items()}
