"""What the walker, gates and rollback share for one run."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from deployctl.core.plan import MetricDef, MetricQuery, Plan, Step
from deployctl.core.ports import Clock, MetricsSource, Registry, Reporter, StepRequest
from deployctl.execute.refs import Resolver, SecretRefs
from deployctl.execute.state import RunState, apply_record, token_for
from deployctl.manifest.secrets import credential_values
from deployctl.secrets import Redactor, remember
from deployctl.state.api import Deferred, Journal, Lock, Record, RunInfo
from deployctl.state.lease import SendGuard

# How long a step's deferred done record waits for a dependent's intent to
# share its commit (one fsync instead of two on the critical path) before it
# commits alone; docs/performance.md.
DEFER_GRACE = 0.005
# The seq a deferred record is folded with until its commit gives the real one.
_PROVISIONAL = 1 << 62


@dataclass(frozen=True)
class _Unreported:
    deferred: Deferred
    step_id: str | None
    shown: Mapping[str, Any] | None  # the data with its secrets, folded in this process
    then: Callable[[], None] | None = None  # run once the record is durable and reported


@dataclass
class RunContext:
    plan: Plan
    run: RunInfo
    journal: Journal
    registry: Registry
    clock: Clock
    reporter: Reporter
    state: RunState
    metrics: MetricsSource | None = None
    lock: Lock | None = None
    parallelism: int = 10
    auto_approve: bool = False
    user: str = "unknown"
    # The options a "resume with ..." line needs (Executor.cli_options).
    cli_options: tuple[str, ...] = ()
    # Checked right before each apply and undo: armed with the lock's lease.
    guard: SendGuard = field(default_factory=SendGuard)
    # Set on a failure or an interrupt: no new forward work, gates stop waiting.
    halt: threading.Event = field(default_factory=threading.Event)
    interrupted: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.resolver = Resolver(self.plan, self._outputs)
        self._state_lock = threading.Lock()
        # Deferred records not yet reported, oldest first: they are reported
        # before any record written after them, so the reporters (and the
        # crash hooks among them) see the journal's commit order.
        self._unreported: list[_Unreported] = []
        self._report_lock = threading.RLock()
        self._redact = Redactor(self.plan.secret_values)
        remember(*self.plan.secret_values)
        self.secret_refs = SecretRefs(self.plan, self.registry, self.learn_secret)

    def learn_secret(self, value: str) -> None:
        """A secret known only at run time (an ``${ssm:...}`` value, a resolved
        credential param): from now on the journal, the reporters and whatever
        else this process writes (an error, the crash log) hide it."""
        if value and value not in self._redact.secrets:
            self._redact.add(value)
            self.reporter.secret(value)
            remember(value)

    def _outputs(self, step_id: str) -> Mapping[str, Any] | None:
        st = self.state.steps.get(step_id)
        return st.outputs if st is not None and st.done_seq is not None else None

    def write(
        self,
        type: str,
        step_id: str | None = None,
        *,
        attempt: int = 0,
        token: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Record:
        """Journal a record, fold it into the live state, then tell the reporter.

        Secret values never reach the journal: the record is stored redacted,
        while this process folds the real data into its live state.
        """
        stored = self._redact.data(dict(data)) if data and self._redact.secrets else data
        record = self.journal.append(
            self.run.run_id, type, step_id=step_id, attempt=attempt, token=token, data=stored
        )
        if stored is not data and data is not None:
            record = replace(record, data=dict(data))
        if step_id is not None:
            with self._state_lock:
                apply_record(self.state.step(step_id), record)
        with self._report_lock:
            self._report_deferred(wait=False)
            self.reporter.record(record)
        return record

    def _report_deferred(self, *, wait: bool = True, grace: float = DEFER_GRACE) -> None:
        """Fold and report the deferred records queued so far, oldest first;
        without ``wait``, only those already durable (those queued before a
        write that returned)."""
        with self._report_lock:
            while self._unreported:
                item = self._unreported[0]
                if not wait and not item.deferred.ready():
                    return
                record = item.deferred.settle(grace)
                if item.shown is not None:
                    record = replace(record, data=dict(item.shown))
                if item.step_id is not None:
                    with self._state_lock:
                        apply_record(self.state.step(item.step_id), record)
                self._unreported.pop(0)
                self.reporter.record(record)
                if item.then is not None:
                    item.then()

    def flush(self) -> None:
        """Make every deferred record durable and report it: a run's records
        are all written before its outcome is."""
        self._report_deferred(grace=0.0)

    def write_deferred(
        self,
        type: str,
        step_id: str | None,
        *,
        attempt: int = 0,
        token: str | None = None,
        data: Mapping[str, Any] | None = None,
        then: Callable[[], None] | None = None,
    ) -> Callable[[bool], Record]:
        """Queue a record to share the next commit (:meth:`Journal.defer`) and
        fold it into the live state now, so dependents can be scheduled and
        read its outputs while it waits; the function returned settles it
        (durable, folded with its real ``seq``, reported) and raises what its
        commit raised; told whether the record released a dependent, it waits
        up to :data:`DEFER_GRACE` for that dependent's intent to share the
        commit.  Nothing a dependent sends goes out before its own intent is
        durable, and that intent commits after this record.  ``then`` runs
        once the record is durable and reported, on whichever thread
        reports it."""
        stored = self._redact.data(dict(data)) if data and self._redact.secrets else data
        with self._report_lock:
            deferred = self.journal.defer(
                self.run.run_id,
                type,
                step_id=step_id,
                attempt=attempt,
                token=token,
                data=stored,
            )
            shown = dict(data) if stored is not data and data is not None else None
            self._unreported.append(_Unreported(deferred, step_id, shown, then))
        if step_id is not None:
            provisional = Record(
                _PROVISIONAL,
                self.run.run_id,
                type,
                step_id,
                attempt,
                token,
                self.clock.now(),
                dict(data or {}),
            )
            with self._state_lock:
                apply_record(self.state.step(step_id), provisional)

        def settle(released: bool) -> Record:
            # Wait for a dependent's intent only when this record released one.
            record = deferred.settle(DEFER_GRACE if released else 0.0)
            # Everything queued before it is durable too (commits keep the
            # queue's order); those queued after it are not waited for here,
            # and the report lock is not held across a commit, so another
            # step's writes are never reported late because of this one.
            self._report_deferred(wait=False)
            return record

        return settle

    def request(self, step: Step, params: Mapping[str, Any], attempt: int) -> StepRequest:
        """The action's request for ``step``.

        ``params`` are what the step journals (``${ssm:...}`` still as text);
        only the request gets the secrets' values, and every one of them (and
        every credential-looking param) is known to the redactors before the
        action can echo it.
        """
        resolved = self.secret_refs.resolve(step, params)
        for value in credential_values(resolved):
            self.learn_secret(value)
        return StepRequest(
            step=step,
            params=resolved,
            run_id=self.run.run_id,
            attempt=attempt,
            token=token_for(self.run.run_id, step.id),
            clock=self.clock,
            metrics=self.metrics,
            metric_defs=self._metric_defs(step) if step.kind.startswith("gate.") else {},
            cancel=self.halt,
            redact=self._redact,
        )

    def _metric_defs(self, step: Step) -> dict[str, MetricDef]:
        """``plan.metrics`` with ``${new_version}`` and friends resolved for ``step``."""

        def query(q: MetricQuery | None) -> MetricQuery | None:
            if q is None:
                return None
            dims = tuple((k, str(self.resolver.resolve(step, v))) for k, v in q.dimensions)
            return replace(q, dimensions=dims)

        # Only what this gate reads: another metric's reference may belong to
        # a step that is not this gate's ancestor.
        params = step.params
        wanted = set(params.get("metrics") or ())
        wanted.update(t.get("metric") for t in params.get("triggers") or ())
        wanted.add(params.get("metric"))
        return {
            name: replace(
                m,
                query=query(m.query),
                numerator=query(m.numerator),
                denominator=query(m.denominator),
            )
            for name, m in self.plan.metrics.items()
            if name in wanted
        }
