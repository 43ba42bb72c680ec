"""What the walker, gates and rollback share for one run."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from deployctl.actions.api import Registry, StepRequest
from deployctl.execute.api import Clock, MetricsSource, Reporter
from deployctl.execute.refs import Resolver, SecretRefs
from deployctl.execute.state import RunState, apply_record, token_for
from deployctl.manifest.model import MetricDef, MetricQuery
from deployctl.manifest.secrets import credential_values
from deployctl.plan.api import Plan, Step
from deployctl.secrets import Redactor, remember
from deployctl.state.api import Journal, Lock, Record, RunInfo
from deployctl.state.lease import SendGuard


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
        self._redact = Redactor(self.plan.secret_values)
        remember(*self.plan.secret_values)
        self.secret_refs = SecretRefs(self.registry, self.learn_secret)

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
        self.reporter.record(record)
        return record

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
