"""The executor's entry points: apply, resume, rollback, approve.

Each takes the (project, environment) lock first, decides which run it is
working on from the journal, and returns an :class:`Outcome` whose
``exit_code`` follows DESIGN.md.  Commands stay thin around this.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from types import FrameType

from deployctl.actions.registry import Backend
from deployctl.core.defaults import DEFAULT_STATE_DIR
from deployctl.core.plan import Plan
from deployctl.core.status import RecordType, StepStatus
from deployctl.errors import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_STALE,
    EXIT_WAITING,
    LeaseExpiring,
    LockLost,
    StalePlan,
    StateError,
    UnknownAction,
    UserError,
)
from deployctl.execute import api, paused
from deployctl.execute.context import RunContext
from deployctl.execute.review import Review, check_all
from deployctl.execute.rollback import roll_back
from deployctl.execute.state import FAILED, fold, note_review
from deployctl.execute.stored import plan_from_json, stored_plan
from deployctl.execute.walker import APPROVAL, Walker
from deployctl.state import open_store
from deployctl.state.api import RUNNING, Lock, Record, RunInfo, StateStore
from deployctl.state.lease import LEASE_SECONDS, lock_id_for, margin_for, who
from deployctl.state.lockset import LockSet


@dataclass(frozen=True)
class Options:
    parallelism: int = 10
    auto_approve: bool = False
    abandon: bool = False
    # A saved plan's fingerprints (review.py): a new run starts only if every
    # resource still matches, journals them, and checks each step against them.
    review: Review | None = None
    # Seconds to stay alive at an approval, watching the triggers, before
    # pausing with exit 6 (apply --wait-for-approval); 0: pause at once.
    wait_for_approval: float = 0.0


class Executor:
    def __init__(
        self,
        state_dir: str,
        backend: Backend,
        reporter: api.Reporter | None = None,
        *,
        user: str | None = None,
        lease: float = LEASE_SECONDS,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        store: StateStore | None = None,
        cli_options: Sequence[str] | None = None,
    ) -> None:
        """``lease`` (seconds, default 120) is how long the lock stays this
        run's without a renewal; calls stop :func:`margin_for` it (45 s) before
        it runs out.  ``wall`` is the clock the stored lease is written in
        (shared between processes), ``monotonic`` this process's own."""
        self.state_dir = state_dir
        # The options every "resume with ..." line needs to reach this run
        # again (--state-dir, --endpoint-url, ...): the command layer knows them.
        self.cli_options: tuple[str, ...] = (
            tuple(cli_options)
            if cli_options is not None
            else (() if state_dir == DEFAULT_STATE_DIR else ("--state-dir", state_dir))
        )
        self.backend = backend
        self.reporter = api.MultiReporter([reporter or api.Reporter(), *backend.reporters])
        self.store = store or open_store(state_dir)
        self.journal = self.store.journal(now=backend.clock.now)
        self.user = user or who()
        self.lease = lease
        self.wall = wall
        self.monotonic = monotonic
        self._interrupt = threading.Event()
        self._ctx: RunContext | None = None
        self._walker: Walker | None = None

    def close(self) -> None:
        self.journal.close()

    # -- control ---------------------------------------------------------------

    def interrupt(self) -> None:
        """Stop starting steps, let in-flight ones finish, then exit 130 (resumable)."""
        self._interrupt.set()
        if self._ctx is not None:
            self._ctx.interrupted.set()
            self._ctx.halt.set()
        if self._walker is not None:
            self._walker.nudge()

    @contextlib.contextmanager
    def signals(self) -> Iterator[None]:
        """Route SIGINT and SIGTERM to :meth:`interrupt` while the block runs."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: FrameType | None) -> None:
            self.interrupt()

        old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, previous in old.items():
                signal.signal(sig, previous)

    @contextlib.contextmanager
    def _locked(self, plan: Plan) -> Iterator[Lock]:
        """Hold the lock: from here every journal write is fenced on it, and
        every call the backend sends is checked against its lease."""
        locks = {
            scope: self.store.lock(
                lock_id_for(*scope),
                self.user,
                os.getpid(),
                lease=self.lease,
                now=self.wall,
                monotonic=self.monotonic,
            )
            for scope in plan.lock_scopes
        }
        own = locks.get((plan.project, plan.environment)) or next(iter(locks.values()))
        lock: Lock = own if len(locks) == 1 else LockSet(list(locks.values()), own)
        try:
            lock.acquire()
            self.journal.hold(lock.fence)
            self.backend.guard.arm(lock.lock_id, lock.lease, margin_for(self.lease))
            if lock.taken_over is not None:
                self.reporter.message(f"took over expired lock {lock.taken_over.describe()}")
            yield lock
        finally:
            self.backend.guard.disarm()
            self.journal.hold(None)
            try:
                lock.release()
            except StateError as exc:  # the lease runs out by itself
                self.reporter.message(f"lock {lock.lock_id} not freed: {exc}")
            finally:
                lock.close()

    def _next(self, label: str, *argv: str, indent: str = "") -> api.NextAction:
        """A command to run next, with the options this run was given."""
        return api.NextAction(label, argv, self.cli_options, indent)

    @contextlib.contextmanager
    def _stopping(self, run_id: str) -> Iterator[None]:
        """A journal or store failure names the run it stopped and how to go on."""
        try:
            yield
        except (LockLost, LeaseExpiring):
            raise  # the run may be going on elsewhere: those say what to check
        except StateError as exc:
            raise exc.during(run_id, self._next("resume", "resume", run_id).command) from None

    # -- commands --------------------------------------------------------------------

    def apply(self, plan: Plan, options: Options = Options()) -> api.Outcome:
        self._check_kinds(plan)
        with self._locked(plan) as lock:
            current = next(
                (
                    r
                    for r in self.journal.runs(plan.project, plan.environment)
                    if r.status in api.RESUMABLE
                    or r.status in (api.ROLLBACK_INCOMPLETE, api.FAILED_RUN)
                ),
                None,
            )
            if current is not None and self._abandoned(current):
                current = None
            if current is not None and options.abandon:
                self.journal.append(
                    current.run_id,
                    api.RUN_FINISHED,
                    data={"status": api.ABANDONED, "by": self.user},
                )
                self.journal.set_status(current.run_id, api.ABANDONED)
                self.reporter.message(f"abandoned run {current.run_id}")
                current = None
            if current is not None and current.status == api.ROLLBACK_INCOMPLETE:
                raise UserError(
                    f"run {current.run_id} could not finish its rollback; finish it with "
                    f"'{self._next('', 'rollback', current.run_id).command}' or pass --abandon"
                )
            if current is not None and current.status == api.FAILED_RUN:
                raise UserError(
                    f"run {current.run_id} failed and was not rolled back (rollback.automatic "
                    f"is false); roll it back with "
                    f"'{self._next('', 'rollback', current.run_id).command}' "
                    "or pass --abandon"
                )
            if current is not None and current.digest != plan.digest:
                raise StalePlan(current.run_id, current.digest, plan.digest)
            if current is None and options.review is not None:
                check_all(plan, self.backend.registry, options.review)
            run = current or self.journal.create_run(plan, self.user, stored_plan(plan))
            lock.set_run(run.run_id)
            with self._stopping(run.run_id):
                return self._drive(plan, run, current is not None, options, lock)

    def resume(self, run_id: str, options: Options = Options()) -> api.Outcome:
        run = self.journal.get_run(run_id)
        if run.status not in api.RESUMABLE:
            raise UserError(f"run {run_id} is {run.status}; only a paused or cut-off run resumes")
        plan = plan_from_json(self.journal.plan_json(run_id), run.source, run.digest)
        self._check_kinds(plan)
        with self._locked(plan) as lock, self._stopping(run_id):
            if self._abandoned(run):
                raise UserError(f"run {run_id} is abandoned; only a paused or cut-off run resumes")
            lock.set_run(run_id)
            return self._drive(plan, run, True, options, lock)

    def rollback(self, run_id: str, plan: Plan | None = None) -> api.Outcome:
        """Undo ``run_id``; ``plan`` (compiled from its file, same digest) stands in
        for the stored plan, which lacks any secret values."""
        run = self.journal.get_run(run_id)
        if plan is None or plan.digest != run.digest:
            plan = plan_from_json(self.journal.plan_json(run_id), run.source, run.digest)
        if run.status == api.ROLLED_BACK:
            return api.Outcome(run_id, run.status, EXIT_OK, f"run {run_id} is already rolled back")
        with self._locked(plan) as lock, self._stopping(run_id):
            lock.set_run(run_id)
            records = self.journal.records(run_id)
            ctx = self._context(plan, self.journal.get_run(run_id), Options(), lock, records)
            # the views and notifications see the run as resumed, with its history
            self.reporter.run_started(ctx.run, plan, True)
            self.reporter.history(records)
            failed = [st.error for st in ctx.state.steps.values() if st.status == FAILED]
            reason = ctx.state.rollback_reason or (
                f"rollback requested by {self.user}" + (f" after: {failed[0]}" if failed else "")
            )
            return self._finish(roll_back(ctx, reason))

    def approve(self, run_id: str, step_id: str | None = None) -> list[str]:
        """Record approvals; returns the steps approved.  ``resume`` goes on from there."""
        run = self.journal.get_run(run_id)
        if run.status not in api.RESUMABLE:
            raise UserError(f"run {run_id} is {run.status}; there is nothing to approve")
        plan = plan_from_json(
            self.journal.plan_json(run_id), run.source, run.digest, allow_redacted=True
        )
        state = fold(plan.by_id, self.journal.records(run_id))
        if step_id is None:
            targets = state.waiting()
            if not targets:
                raise UserError(f"run {run_id} is not waiting for an approval")
        elif step_id not in plan.by_id:
            raise UserError(f"run {run_id} has no step {step_id!r}")
        elif plan.by_id[step_id].kind != APPROVAL and step_id not in state.waiting():
            raise UserError(f"step {step_id} is neither an approval nor waiting")
        else:
            targets = [step_id]
        for target in targets:
            self.journal.append(run_id, api.APPROVED, step_id=target, data={"by": self.user})
        return targets

    # -- internals ---------------------------------------------------------------------

    def _abandoned(self, run: RunInfo) -> bool:
        """Whether ``run``, listed as unfinished, was abandoned after all: the
        process that wrote its ``run_finished`` (abandoned) record died before
        the status.  The status is put right and the run is not resumed (the
        journal, not the listing, is the truth)."""
        if fold((), self.journal.records(run.run_id)).final_status != api.ABANDONED:
            return False
        self.journal.set_status(run.run_id, api.ABANDONED)
        self.reporter.message(f"run {run.run_id} was abandoned; its status now says so")
        return True

    def _check_kinds(self, plan: Plan) -> None:
        registry = self.backend.registry
        unknown = sorted({s.kind for s in plan.steps if s.kind != APPROVAL} - set(registry.kinds()))
        if unknown:
            raise UnknownAction(unknown)

    def _context(
        self,
        plan: Plan,
        run: RunInfo,
        options: Options,
        lock: Lock | None,
        records: list[Record] | None = None,
    ) -> RunContext:
        """The run's context, its state folded from ``records`` (read now if
        not given): a caller that also shows them passes the same list, so
        a record another process writes meanwhile (an approval) is in both
        or in neither."""
        if records is None:
            records = self.journal.records(run.run_id)
        ctx = RunContext(
            plan=plan,
            run=run,
            journal=self.journal,
            registry=self.backend.registry,
            clock=self.backend.clock,
            reporter=self.reporter,
            state=fold(plan.by_id, records),
            metrics=self.backend.metrics,
            lock=lock,
            parallelism=max(1, options.parallelism),
            auto_approve=options.auto_approve,
            user=self.user,
            guard=self.backend.guard,
            cli_options=self.cli_options,
        )
        self._ctx = ctx
        if self._interrupt.is_set():
            ctx.interrupted.set()
            ctx.halt.set()
        return ctx

    def _drive(
        self,
        plan: Plan,
        run: RunInfo,
        resumed: bool,
        options: Options,
        lock: Lock,
    ) -> api.Outcome:
        # Every step writes at least an intent and a done record.
        self.journal.make_room(2 * len(plan.steps) + 4)
        self.journal.set_status(run.run_id, RUNNING)
        # One read: the state and the history shown are the same records.
        records = self.journal.records(run.run_id)
        ctx = self._context(plan, run, options, lock, records)
        self.reporter.run_started(run, plan, resumed)
        if resumed:
            self.reporter.history(records)
        self._walker = Walker(ctx)
        # Queued, not committed: it shares the commit of the first intents the
        # walk writes (or of whatever record comes first), one fsync fewer
        # before the first call; nothing is sent before that commit.
        ctx.write_deferred(
            api.RESUMED if resumed else api.RUN_STARTED,
            None,
            data={"digest": plan.digest, "user": self.user, "pid": os.getpid()},
        )
        if options.review is not None and options.review.supersedes(ctx.state):
            note_review(ctx.state, ctx.write(api.REVIEWED, data=options.review.to_json()))
        if ctx.state.rollback_reason is not None:  # the last process died mid-rollback
            return self._finish(roll_back(ctx, ctx.state.rollback_reason))
        if resumed:  # nobody watched the new version while no process ran
            paused.judge_pause(ctx)
        failed = [(sid, st.error) for sid, st in ctx.state.steps.items() if st.status == FAILED]
        if failed:
            # A failure is a verdict: the process that saw it died (or was
            # interrupted) before rolling back, so roll back now, not retry.
            sid, error = failed[0]
            if not plan.rollback_automatic:
                return self._finish(self._stop_failed(ctx, f"{error} (step {sid})"))
            return self._finish(roll_back(ctx, f"{error} (step {sid}, before the last stop)"))
        result = self._walker.walk()
        rid = run.run_id
        if result.status == StepStatus.INTERRUPTED:
            ctx.write(RecordType.INTERRUPTED, data={"by": "signal"})
            return self._stop(
                rid,
                api.INTERRUPTED,
                EXIT_INTERRUPTED,
                f"run {rid} interrupted; in-flight steps were journaled",
                self._next("resume with", "resume", rid),
            )
        if result.status == StepStatus.STALE:
            # Someone else changed a resource mid-run: send nothing more and
            # undo nothing (a rollback would overwrite their change too).
            return self._stop(
                rid,
                api.STALE,
                EXIT_STALE,
                f"run {rid} stopped: {result.reason}",
                self._next("put it back and go on", "resume", rid),
                self._next("or undo what this run did", "rollback", rid),
                "or accept the world as it is now: deployctl plan PLAN --out FILE, "
                "then deployctl apply FILE",
            )
        if result.status == StepStatus.FAILED:
            if not plan.rollback_automatic:
                return self._finish(self._stop_failed(ctx, result.reason))
            return self._finish(roll_back(ctx, result.reason))
        if result.status == StepStatus.WAITING and options.wait_for_approval > 0:
            return self._await_approval(ctx, options, lock, result.waiting)
        if result.status == StepStatus.WAITING:
            return self._paused(ctx, result.waiting)
        ctx.write(api.RUN_FINISHED, data={"status": api.SUCCEEDED})
        # run_finished is durable: the status needs no flush of its own.
        self.journal.set_status(rid, api.SUCCEEDED, durable=False)
        return self._finish(api.Outcome(rid, api.SUCCEEDED, EXIT_OK, f"run {rid} succeeded"))

    def _await_approval(
        self, ctx: RunContext, options: Options, lock: Lock, waiting: tuple[str, ...]
    ) -> api.Outcome:
        """``--wait-for-approval``: stay alive (holding the lock) while the run
        waits (:func:`paused.wait`); go on once approved, roll back if a
        trigger trips, pause as usual when the time is up."""
        plan, run = ctx.plan, ctx.run
        self.journal.set_status(run.run_id, api.WAITING)
        got = paused.wait(
            ctx,
            waiting,
            options.wait_for_approval,
            lambda: self.journal.records(run.run_id),
            self._interrupt,
            lock.renew,
        )
        if got is None:
            return self._paused(ctx, waiting)
        self._reopen()  # someone else wrote to the journal: number records from it
        if got == []:  # approved
            return self._drive(plan, run, True, replace(options, wait_for_approval=0), lock)
        fresh = self._context(plan, run, options, lock)
        reasons = [paused.record(fresh, v) for v in got]  # every tripped gate, journaled
        if not plan.rollback_automatic:
            return self._finish(self._stop_failed(fresh, reasons[0]))
        return self._finish(roll_back(fresh, reasons[0]))

    def _paused(self, ctx: RunContext, waiting: tuple[str, ...]) -> api.Outcome:
        rid = ctx.run.run_id
        left: list[str | api.NextAction] = []
        for sid in waiting:
            left.append(f"{sid}: {ctx.state.step(sid).reason}")
            left.append(self._next("approve with", "approve", rid, sid, indent="  "))
        left.append(self._next("then", "resume", rid))
        return self._stop(
            rid, api.WAITING, EXIT_WAITING, f"run {rid} is waiting for approval", *left
        )

    def _reopen(self) -> None:
        """A fresh journal handle, after another process (``approve``) wrote to the run."""
        self.journal.close()
        self.journal = self.store.journal(now=self.backend.clock.now)

    def _stop(
        self, rid: str, status: str, exit_code: int, message: str, *left: str | api.NextAction
    ) -> api.Outcome:
        """End this process's part of a run that can be resumed (paused,
        interrupted, stale): record the status, report what is left to do."""
        self.journal.set_status(rid, status)
        return self._finish(api.Outcome(rid, status, exit_code, message, left))

    def _stop_failed(self, ctx: RunContext, reason: str) -> api.Outcome:
        """``rollback.automatic: false``: stop with the failure, undo nothing.

        Exit 1 (an unrecovered failure), not 3 or 7: those report how a
        rollback went, and none ran.  The run is not resumable; ``deployctl
        rollback RUN`` undoes it (by ``rollback.scope``), ``--abandon`` drops it.
        """
        rid = ctx.run.run_id
        ctx.write(api.RUN_FINISHED, data={"status": api.FAILED_RUN, "reason": reason})
        self.journal.set_status(rid, api.FAILED_RUN)
        return api.Outcome(
            rid,
            api.FAILED_RUN,
            EXIT_ERROR,
            f"run {rid} failed and was not rolled back (rollback.automatic: false): {reason}",
            (
                self._next("roll back with", "rollback", rid),
                "or leave it as it is: deployctl apply PLAN --abandon",
            ),
        )

    def _finish(self, outcome: api.Outcome) -> api.Outcome:
        ctx = self._ctx
        if ctx is not None:
            ctx.flush()  # the run's deferred records, durable and reported before its outcome
        if outcome.status in api.ENDED and ctx is not None:
            duration = max(0.0, self.backend.clock.now() - ctx.run.created)
            steps = {sid: st.status for sid, st in ctx.state.steps.items()}
            ended = replace(outcome, steps=steps)
            for observer in self.backend.observers:
                try:
                    observer.run_ended(ctx.plan, ctx.run, ended, duration)
                except Exception as exc:  # metrics must never change how a run ended
                    self.reporter.message(f"{type(observer).__name__}: {exc}")
        self.reporter.run_finished(outcome)
        return outcome
