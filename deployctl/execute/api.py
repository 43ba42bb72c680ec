"""The executor's interfaces: clock, metrics source, reporter, run observer,
and the run statuses and record types it writes.

The journal, the lock and their records are the state layer's contracts
(:mod:`deployctl.state.api`).  Implementations sit beside this module
(``clock.py``, ``report.py``); tests swap in subclasses rather than patching
calls.
"""

from __future__ import annotations

import abc
import shlex
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from deployctl.state import api as state_api
from deployctl.state.api import Record, RunInfo

if TYPE_CHECKING:
    from deployctl.actions.api import CheckResult
    from deployctl.manifest.model import MetricDef
    from deployctl.plan.api import Plan, Step

# Run statuses.  RESUMABLE ones are picked up again by ``apply`` on the same
# plan.  RUNNING, the status a run is created with, is the journal contract's.
RUNNING = state_api.RUNNING
WAITING = "waiting"
INTERRUPTED = "interrupted"
SUCCEEDED = "succeeded"
ROLLED_BACK = "rolled_back"
ROLLBACK_INCOMPLETE = "rollback_incomplete"
FAILED_RUN = "failed"  # failed with rollback.automatic: false; rolled back only by hand
ABANDONED = "abandoned"
STALE = "stale"  # a reviewed run found a resource changed by someone else; stopped
RESUMABLE = frozenset({RUNNING, WAITING, INTERRUPTED, STALE})
ENDED = frozenset({SUCCEEDED, ROLLED_BACK, ROLLBACK_INCOMPLETE, FAILED_RUN})

# Journal record types.  Forward work: intent -> done (mutating) or done alone
# (reads); observed is the reconciliation of an intent left without a done.
RUN_STARTED = "run_started"
RESUMED = "resumed"
INTENT = "intent"
OBSERVED = "observed"
DONE = "done"
WAITED = "waited"
FAILED = "failed"
CHECK = "check"
WAITING_RECORD = "waiting"
APPROVED = "approved"
STEP_INTERRUPTED = "interrupted"
ROLLBACK_STARTED = "rollback_started"
UNDO_INTENT = "undo_intent"
UNDONE = "undone"
UNDO_FAILED = "undo_failed"
DRAINED = "drained"  # the side an undo moved traffic off had time to finish its requests
ROLLBACK_STOPPED = "rollback_stopped"
RUN_FINISHED = "run_finished"
# A run from a saved plan: the fingerprints reviewed, then each stop on a changed resource.
REVIEWED = "reviewed"
STALE_RECORD = "stale"


@dataclass(frozen=True)
class StepResult:
    """How one step ended in this process."""

    step_id: str
    status: str  # done | failed | waiting | interrupted
    outputs: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    attempt: int = 0


@dataclass(frozen=True)
class NextAction:
    """Something a person can run next, kept as data: ``deployctl`` + ``argv``
    (``("resume", RUN_ID)``) + ``options``, the options this run was started
    with that say where its state and AWS are (``--state-dir``,
    ``--endpoint-url``, ``--region``, ``--profile``).  The engine names the
    command; the command layer, which parsed the options, supplies them
    (:class:`Executor`'s ``cli_options``), so the advice is right for anyone
    not on the defaults.  ``str()`` is the line a person copies.
    """

    label: str
    argv: tuple[str, ...]
    options: tuple[str, ...] = ()
    indent: str = ""

    @property
    def command(self) -> str:
        return shlex.join(("deployctl", *self.argv, *self.options))

    def __str__(self) -> str:
        return f"{self.indent}{self.label}: {self.command}"

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "argv": list(self.argv), "options": list(self.options)}


@dataclass(frozen=True)
class Outcome:
    """How a run (or a rollback) ended; ``exit_code`` follows DESIGN.md."""

    run_id: str
    status: str
    exit_code: int
    message: str
    # What a person still has to do: notes, and commands to run next.
    left: tuple[str | NextAction, ...] = ()
    # step id -> final step status (done, failed, undone, pending...), filled
    # in for the run observers: a pipeline's environments each ended their way.
    steps: Mapping[str, str] = field(default_factory=dict)


class Clock(abc.ABC):
    """All waiting goes through here, so tests can run hours of bakes in no time."""

    @abc.abstractmethod
    def now(self) -> float: ...

    @abc.abstractmethod
    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> bool:
        """Wait ``seconds``; return False early if ``cancel`` is set (an interrupt)."""


class MetricsSource(abc.ABC):
    """Where gates read metrics.  One ``fetch`` per region per check returns
    every metric the gate needs; ratios are computed by the source from raw
    series (never CloudWatch metric math).  ``None`` means no data."""

    @abc.abstractmethod
    def fetch(
        self, region: str | None, metrics: Mapping[str, MetricDef], start: float, end: float
    ) -> Mapping[str, float | None]: ...

    def alarm_states(self, region: str | None, names: Sequence[str]) -> Mapping[str, str | None]:
        """The state (``OK``, ``ALARM``, ``INSUFFICIENT_DATA``) of each named
        CloudWatch alarm, ``None`` for one that does not exist (an error to
        the gate, never an OK).  One call per region and check."""
        raise NotImplementedError(f"{type(self).__name__} cannot read alarms")


class Reporter:
    """Progress goes out through here.  Every method is a no-op by default, so a
    reporter overrides only what it shows."""

    def run_started(self, run: RunInfo, plan: Plan, resumed: bool) -> None:
        """A run begins (or continues)."""

    def step_started(self, step: Step, attempt: int) -> None:
        """A worker took ``step``."""

    def step_finished(self, step: Step, result: StepResult) -> None:
        """``step`` ended in this process."""

    def gate_checked(self, step: Step, number: int, result: CheckResult, remaining: float) -> None:
        """One gate check ran; ``remaining`` seconds are left in its window."""

    def record(self, record: Record) -> None:
        """A journal record was written (after it is durable)."""

    def history(self, records: Sequence[Record]) -> None:
        """A resumed run's records written before this process, in order (right
        after ``run_started``): summaries cover the whole run, not this part."""

    def message(self, text: str) -> None:
        """A line for people (rollback progress, approvals)."""

    def secret(self, value: str) -> None:
        """A secret value read during the run (an ``${ssm:...}`` parameter):
        hide it from now on, like the plan's own secret values."""

    def run_finished(self, outcome: Outcome) -> None:
        """The process is about to exit with ``outcome.exit_code``."""


class RunObserver(abc.ABC):
    """Told once each time a process ends a run in a final status (succeeded,
    rolled back, rollback incomplete, failed): not on a pause or an interrupt.

    The CloudWatch deployment metrics come through here
    (:class:`deployctl.actions.cloudwatch.DeploymentMetrics`), so the
    executor stays free of AWS.  ``duration`` is seconds since the run was
    created, pauses for approvals included.  An observer's exception is
    reported and otherwise ignored: it never changes the run's outcome.
    """

    @abc.abstractmethod
    def run_ended(self, plan: Plan, run: RunInfo, outcome: Outcome, duration: float) -> None: ...


class MultiReporter(Reporter):
    """Fan out to several reporters (the view plus, e.g., a test hook)."""

    def __init__(self, reporters: Sequence[Reporter]) -> None:
        self.reporters = tuple(reporters)

    def run_started(self, run: RunInfo, plan: Plan, resumed: bool) -> None:
        for r in self.reporters:
            r.run_started(run, plan, resumed)

    def step_started(self, step: Step, attempt: int) -> None:
        for r in self.reporters:
            r.step_started(step, attempt)

    def step_finished(self, step: Step, result: StepResult) -> None:
        for r in self.reporters:
            r.step_finished(step, result)

    def gate_checked(self, step: Step, number: int, result: CheckResult, remaining: float) -> None:
        for r in self.reporters:
            r.gate_checked(step, number, result, remaining)

    def record(self, record: Record) -> None:
        for r in self.reporters:
            r.record(record)

    def history(self, records: Sequence[Record]) -> None:
        for r in self.reporters:
            r.history(records)

    def message(self, text: str) -> None:
        for r in self.reporters:
            r.message(text)

    def secret(self, value: str) -> None:
        for r in self.reporters:
            r.secret(value)

    def run_finished(self, outcome: Outcome) -> None:
        for r in self.reporters:
            r.run_finished(outcome)
