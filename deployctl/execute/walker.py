"""The forward walk: a bounded thread pool over the step DAG.

The main thread schedules (a step starts once its dependencies are complete,
ties in plan order), renews the lock lease and reacts to results; workers run
one step each, and a worker whose step releases a dependent goes on with it
(:class:`~deployctl.execute.schedule.Schedule`).  A failure, a pause or an
interrupt stops new work, and the walk returns only after in-flight steps
have finished and been journaled.
"""

from __future__ import annotations

import contextlib
import queue
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from deployctl.core.kinds import StepKind
from deployctl.core.params import ApprovalParams
from deployctl.core.plan import Step
from deployctl.core.ports import Action
from deployctl.core.records import Record
from deployctl.core.refs import is_unresolved
from deployctl.core.status import StepStatus
from deployctl.errors import DeployctlError, LockLost, ResourceChanged, StateError
from deployctl.execute import api, review
from deployctl.execute.context import RunContext
from deployctl.execute.gates import run_gate
from deployctl.execute.schedule import Schedule
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


@dataclass(frozen=True)
class _Early:
    """A step done whose done record is queued, not yet durable."""

    result: api.StepResult
    settle: Callable[[bool], Record]
    # The walk's last step: the run's next record (run_finished) commits its
    # done record.  (Every queued done record reports its step's end itself,
    # once durable: ``RunContext.write_deferred``'s ``then``.)
    last: bool = False
    released: bool = False  # a dependent may start: its intent may share the commit


@dataclass(frozen=True)
class _Ended:
    """A worker's word to the main loop: a step ended with ``result``, or the
    journal, the lock or a bug stopped it (``error``).  ``released``: its
    done record was queued, and the step counted done then
    (:meth:`Schedule.release`); that record reports its end once durable."""

    step_id: str
    result: api.StepResult | None = None
    released: bool = False
    error: BaseException | None = None


class _Before:
    """A step's done record, queued, that the next step's intent commits
    (:meth:`Walker._work`): settled once, by the thread that runs that step."""

    def __init__(self, walker: Walker, step_id: str, early: _Early) -> None:
        self.walker, self.step_id, self.early = walker, step_id, early
        self.settled = False

    def settle(self) -> None:
        if not self.settled:
            self.settled = True
            self.walker._settle(self.step_id, self.early, here=True)


class Walker:
    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        # A SimpleQueue: put is one C call, and reentrant, so a signal
        # handler's nudge cannot deadlock a main loop inside get.
        self.wake: queue.SimpleQueue[_Ended | None] = queue.SimpleQueue()
        self._sched: Schedule | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._plain: dict[str, bool] = {}  # _plain_action, per step id
        self._gates: dict[str, bool] = {}  # _is_gate, per step kind

    def nudge(self) -> None:
        """Wake the main loop (signal handlers call this after setting ``halt``)."""
        self.wake.put(None)

    def _complete(self, step: Step, st: StepState) -> bool:
        # A done step with a wait (a bake) that was cut short waits again.
        return st.status == DONE and (step.wait <= 0 or st.waited or self._is_gate(step))

    def _is_gate(self, step: Step) -> bool:
        gate = self._gates.get(step.kind)
        if gate is None:
            registry = self.ctx.registry
            gate = self._gates[step.kind] = step.kind in registry and registry.get(step.kind).gate
        return gate

    def walk(self) -> WalkResult:
        ctx, plan = self.ctx, self.ctx.plan
        complete = {s.id for s in plan.steps if self._complete(s, ctx.state.step(s.id))}
        sched = self._sched = Schedule(plan, complete, ctx.parallelism, ctx.halt)
        # The journal or the lock failed: no new step, the in-flight ones end
        # (each refused its next write or send), then the first error goes up.
        fatal: list[StateError] = []
        renew_every = _RENEW_EVERY
        if ctx.lock is not None:
            renew_every = min(_RENEW_EVERY, ctx.lock.lease.seconds / 8)

        def stop(exc: StateError) -> None:
            fatal.append(exc)
            ctx.halt.set()

        # Twice the parallelism: a settling step's thread waits for its commit
        # while the dependents it released already run.
        pool = self._pool = ThreadPoolExecutor(
            max_workers=2 * ctx.parallelism, thread_name_prefix="step"
        )
        try:
            self._loop(sched, pool, stop, fatal, renew_every)
        except BaseException:
            pool.shutdown(wait=True)
            raise
        # Every step has ended and said so: the idle threads leave on their
        # own, the run's last records need not wait for them.
        pool.shutdown(wait=False)

        if fatal:
            raise fatal[0]
        if ctx.interrupted.is_set():
            return WalkResult(StepStatus.INTERRUPTED, tuple(sched.failed), "; ".join(sched.reasons))
        if sched.failed:
            return WalkResult(StepStatus.FAILED, tuple(sched.failed), "; ".join(sched.reasons))
        if sched.stale:
            return WalkResult(STALE, tuple(sched.stale), "; ".join(sched.stale_reasons))
        if sched.waiting:
            return WalkResult(StepStatus.WAITING, waiting=tuple(sched.waiting))
        missing = [s.id for s in plan.steps if s.id not in sched.complete]
        if missing:
            return WalkResult(
                StepStatus.FAILED, (missing[0],), f"steps never became ready: {missing[:5]}"
            )
        return WalkResult(StepStatus.DONE)

    def _loop(
        self,
        sched: Schedule,
        pool: ThreadPoolExecutor,
        stop: Callable[[StateError], None],
        fatal: list[StateError],
        renew_every: float,
    ) -> None:
        """Start what may start, then handle what the workers say, until no
        step is in flight."""
        ctx, plan = self.ctx, self.ctx.plan
        while True:
            while (sid := sched.take()) is not None:
                step = plan.by_id[sid]
                if step.kind == APPROVAL:
                    sched.finish(sid, self._approval(step))
                else:
                    pool.submit(self._work, step)
            if sched.idle():
                break
            try:
                got = self.wake.get(timeout=renew_every)
            except queue.Empty:
                got = None
            if ctx.lock is not None and not fatal:
                self._renew(stop)
            if got is None:
                continue
            if got.error is not None:
                sched.ended(got.step_id, None)
                if not isinstance(got.error, StateError):
                    raise got.error
                stop(got.error)
                continue
            assert got.result is not None
            if not got.released:  # (a queued done record reports its own)
                ctx.reporter.step_finished(plan.by_id[got.step_id], got.result)
            sched.ended(got.step_id, got.result, released=got.released)

    def _work(self, step: Step) -> None:
        """A worker: run ``step``; while the step it ran released dependents
        before its done record was durable, start the next ready one in this
        thread (the critical path's step goes on without waiting for the main
        loop and another thread to wake).  The record is settled by this
        thread right after the next step's intent, which shares its commit,
        if that intent is the next step's first act (:meth:`_intent_first`);
        otherwise on another thread, which waits for the commit."""
        assert self._sched is not None and self._pool is not None
        # The step before, whose done record the next intent makes durable.
        previous: _Before | None = None
        while True:
            try:
                got = self._run_step(step, previous)
            except BaseException as exc:  # the main loop decides: StateError stops the run
                if previous is not None:
                    previous.settle()  # its commit's error, if that was it, goes up too
                self.wake.put(_Ended(step.id, error=exc))
                return
            if previous is not None:
                previous.settle()  # no-op if settled after the intent
            previous = None
            if isinstance(got, api.StepResult):
                self.wake.put(_Ended(step.id, got))
                return
            nxt = self._sched.release(step.id, got.result)
            if self._sched.startable():
                self.nudge()  # the other dependents it released go to other workers
            if nxt is None:
                if got.last:  # the walk is over: the run's next record settles it
                    self.wake.put(_Ended(step.id, got.result, released=True))
                else:
                    self._settle(step.id, got)
                return
            prev, step = step.id, self.ctx.plan.by_id[nxt]
            if self._intent_first(step):
                previous = _Before(self, prev, got)
            else:
                self._pool.submit(self._settle, prev, got)

    def _intent_first(self, step: Step) -> bool:
        """Whether ``step``'s first act is to journal its intent: a mutating
        action's first attempt in an unreviewed run, with no state of its
        own to read first (``Action.before``) and no ``${ssm:...}`` param
        to read.  Nothing that may wait on AWS comes between, so the done
        record queued before it waits for that commit no longer than it
        would on another thread (``DEFER_GRACE``)."""
        ctx = self.ctx
        if ctx.state.reviewed is not None:
            return False
        plain = self._plain.get(step.id)
        if plain is None:
            plain = self._plain[step.id] = self._plain_action(step)
        if not plain:
            return False
        st = ctx.state.step(step.id)
        return st.status == PENDING and not st.intents

    def _plain_action(self, step: Step) -> bool:
        """What :meth:`_intent_first` knows from the plan alone (kept per
        step): an action that journals an intent, with no ``Action.before``
        and no secret to read."""
        ctx = self.ctx
        if not self._journals_intent(step) or step.kind not in ctx.registry:
            return False
        if ctx.secret_refs.reads(step.id):
            return False
        return type(ctx.registry.get(step.kind)).before is Action.before

    def _journals_intent(self, step: Step) -> bool:
        """A mutating action's step: its first record, once it may start, is
        an intent (a gate's is its first check, a whole interval later; an
        approval and a read-only step write none)."""
        return step.mutating and step.kind != APPROVAL and not self._is_gate(step)

    def _settle(self, step_id: str, early: _Early, *, here: bool = False) -> None:
        """Make ``step_id``'s queued done record durable (its end is reported
        with it, by whichever thread reports the record).  ``here``: this
        worker tells the schedule itself instead of waking the main loop,
        which has nothing to decide for a step already counted done
        (:meth:`Schedule.release`); an error still goes to the main loop."""
        assert self._sched is not None
        try:
            # Waits (DEFER_GRACE at most) for the intent of a dependent it
            # released to share the commit; commits at once if it released none.
            early.settle(early.released and not self.ctx.halt.is_set())
            if here:
                self._sched.ended(step_id, early.result, released=True)
                return
        except BaseException as exc:  # handed to the main loop, which decides
            self.wake.put(_Ended(step_id, error=exc))
            return
        self.wake.put(_Ended(step_id, early.result, released=True))

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
            reason = str(ApprovalParams.from_params(step.params).reason or step.description)
            ctx.write(api.WAITING_RECORD, step.id, data={"reason": reason})
        return api.StepResult(step.id, StepStatus.WAITING)

    def _run_step(self, step: Step, previous: _Before | None = None) -> api.StepResult | _Early:
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
            # A mutating step's first attempt is reported started once its
            # intent is durable: after the ends of the steps before it, whose
            # done records the same or an earlier commit holds, so the log's
            # order is the journal's.  Any other step (a gate, a read-only
            # step, a resumed one that observes first) before it reads or waits.
            starts_at_intent = step.mutating and not st.intents and not action.gate
            if not starts_at_intent:
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
            if not st.intents and type(action).before is not Action.before:
                # The state replaced is the one before the first attempt.
                before = action.before(request)
                if before:
                    intent["before"] = dict(before)
            ctx.write(api.INTENT, step.id, attempt=attempt, token=request.token, data=intent)
            if previous is not None:
                previous.settle()  # durable with this intent: no wait
            if starts_at_intent:
                ctx.reporter.step_started(shown, attempt)
            # What the journal says the step replaces: a conditional write
            # compares the live state with it instead of overwriting blindly.
            if st.before:  # (the request's own is an empty dict: no copy to make)
                request = replace(request, before=dict(st.before))
            ctx.guard.check(f"step {step.id}")
            outputs = dict(action.apply(request))
            done: dict[str, object] = {"outputs": outputs}
            if reviewed:
                done["seen"] = review.after(step, action, params)
            assert self._sched is not None
            ready, released = self._releases(step)
            if step.wait > 0 or self._sched.saturated() or (ready and not released):
                # A bake follows (nothing depends on the done record yet),
                # other ready steps wait for a worker (the walk is not on one
                # critical path but saturated: commits are shared anyway), or
                # what it lets start writes no intent at once (a gate, an
                # approval, a read-only step: it starts once this step's end
                # is durable and reported): the done record commits on its own.
                ctx.write(api.DONE, step.id, attempt=attempt, token=request.token, data=done)
                return self._wait(step, attempt)
            # The done record is queued and folded now, and the schedule
            # counts the step done at once (_work): a dependent it releases
            # starts (the first on this thread) and its intent shares the
            # commit, done first (and those of the others if they are queued
            # by then; the commit does not wait for them).  A step that lets
            # nothing start yet counts at once too, so when the other
            # dependencies of a join end a moment later, the last of them
            # starts the join itself instead of waiting for this record's
            # commit and the main loop.  A dependent sends nothing before its
            # own intent is durable, which commits after this record.  The
            # walk's last step's done record waits for the run's next record
            # (run_finished) to share that commit instead, and the step's end
            # is reported once both are durable.
            last = not released and self._sched.last_to_finish(step.id)
            result = api.StepResult(step.id, DONE, outputs=outputs, attempt=attempt)
            settle = ctx.write_deferred(
                api.DONE,
                step.id,
                attempt=attempt,
                token=request.token,
                data=done,
                # Its end is reported with the record, in the journal's order:
                # before any dependent's intent (and start) is.
                then=lambda: ctx.reporter.step_finished(step, result),
            )
            return _Early(result, settle, last=last, released=released)
        except StateError:  # not the step's failure: the journal or the lock is gone
            raise
        except ResourceChanged as exc:  # someone else's change: stop, overwrite nothing
            ctx.write(api.STALE_RECORD, step.id, attempt=attempt, data={"changed": _changed(exc)})
            return api.StepResult(step.id, STALE, error=str(exc), attempt=attempt)
        except Exception as exc:  # an action's failure is data: journal it, then roll back
            error = f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc)
            ctx.write(api.FAILED, step.id, attempt=attempt, data={"error": error})
            return api.StepResult(step.id, StepStatus.FAILED, error=error, attempt=attempt)

    def _releases(self, step: Step) -> tuple[bool, bool]:
        """What ``step``, done, lets start (dependents whose other deps are
        done): any at all, and any whose first record is an intent written
        right away, a mutating action's (a gate writes its first check a
        whole interval later)."""
        state, plan = self.ctx.state, self.ctx.plan
        assert self._sched is not None
        ready = False
        for sid in self._sched.dependents.get(step.id, ()):
            child = plan.by_id[sid]
            for d in child.deps:  # (a loop, not all(): no generator per dependent)
                if d != step.id and state.step(d).status != DONE:
                    break
            else:
                if self._journals_intent(child):
                    return True, True
                ready = True
        return ready, False

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
