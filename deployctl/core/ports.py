"""The ports: what the executor and the actions share, and nothing else of
deployctl.  See docs/architecture.md.

The action interface: how the executor touches the world.

A step ``kind`` (``lambda.shift``, ``gate.analysis``...) maps to one
:class:`Action` in a :class:`~deployctl.actions.registry.Registry`.  The
executor calls it through this interface only; it never knows about AWS.

What the executor promises an action:

- ``apply`` of a mutating step runs only after an *intent* record (with
  ``request.token``) is durable, and its outputs are journaled right after.
  Right before it, and before each request the AWS clients send, the
  executor checks that enough of its lock's lease is left (a paused process
  whose lock was taken over sends nothing).
- If the process died between the two, the next run calls ``observe`` first
  and calls ``apply`` again only when ``observe`` says the effect is absent.
- ``undo`` runs during rollback, in reverse completion order, with the outputs
  the forward ``apply`` returned (over what ``before`` read, journaled with
  the first intent).  What it returns is journaled with the ``undone``
  record; ``drain_seconds`` there makes the rollback wait that long (the side
  traffic left finishes its requests) before the next undo.
- A *gate* action (``gate = True``) is not applied: the executor calls
  ``check`` every interval of the step's window and decides pass or fail from
  the results (``failure_limit``, ``missing_data``).

What an action promises the executor:

- ``apply`` is idempotent: it observes first and acts only if needed (a
  second call with the same token must not publish a second version).
- Nothing sleeps except through ``request.clock``.
- Errors are raised as exceptions; the executor journals them and rolls back.
- A conditional write that finds the world changed (a stale ``RevisionId``,
  weights other than ``request.before`` journaled) is never retried blindly:
  it raises :class:`~deployctl.errors.ResourceChanged` naming the resource,
  and the run stops as stale.

The executor's side: the clock all waiting goes through, the metrics source
gates read, the reporter progress goes out through, the run observers told
when a run ends.  Implementations: ``core/clock.py`` and the layers above (
``actions/cloudwatch.py``, ``output/``); tests swap in subclasses rather than
patching calls.
"""

from __future__ import annotations

import abc
import hashlib
import json
import shlex
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from deployctl.core.plan import MetricDef, Plan, Step
from deployctl.core.records import Record, RunInfo
from deployctl.core.status import Verdict

PASS = Verdict.PASS
FAIL = Verdict.FAIL
NO_DATA = Verdict.NO_DATA


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
    (the executor's ``cli_options``), so the advice is right for anyone not
    on the defaults.  ``str()`` is the line a person copies.
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


class Clock(Protocol):
    """All waiting goes through here, so tests can run hours of bakes in no time."""

    @abc.abstractmethod
    def now(self) -> float: ...

    @abc.abstractmethod
    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> bool:
        """Wait ``seconds``; return False early if ``cancel`` is set (an interrupt)."""


class MetricsSource(Protocol):
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


class RunObserver(Protocol):
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
        # The calls made for every step and record go only to the reporters
        # that show them (most override a few of the no-ops).
        self._records = _overriding(self.reporters, "record")
        self._starts = _overriding(self.reporters, "step_started")
        self._finishes = _overriding(self.reporters, "step_finished")

    def run_started(self, run: RunInfo, plan: Plan, resumed: bool) -> None:
        for r in self.reporters:
            r.run_started(run, plan, resumed)

    def step_started(self, step: Step, attempt: int) -> None:
        for started in self._starts:
            started(step, attempt)

    def step_finished(self, step: Step, result: StepResult) -> None:
        for finished in self._finishes:
            finished(step, result)

    def gate_checked(self, step: Step, number: int, result: CheckResult, remaining: float) -> None:
        for r in self.reporters:
            r.gate_checked(step, number, result, remaining)

    def record(self, record: Record) -> None:
        for recorded in self._records:
            recorded(record)

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


def _overriding(reporters: Sequence[Reporter], name: str) -> tuple[Callable[..., None], ...]:
    """Each reporter's method ``name``, bound, unless it is Reporter's no-op."""
    base = getattr(Reporter, name)
    return tuple(getattr(r, name) for r in reporters if getattr(type(r), name) is not base)


@dataclass(frozen=True)
class StepRequest:
    """Everything an action gets for one call.  ``params`` are resolved: every
    ``${...}`` reference has been replaced by an earlier step's output."""

    step: Step
    params: Mapping[str, Any]
    run_id: str
    attempt: int
    token: str  # idempotency token, stable for (run, step): usable as a ClientToken
    clock: Clock
    metrics: MetricsSource | None = None
    metric_defs: Mapping[str, MetricDef] = field(default_factory=dict)  # resolved plan.metrics
    cancel: threading.Event = field(default_factory=threading.Event)
    # What :meth:`Action.before` read ahead of the step's first intent, as
    # journaled (given to ``apply``): a write that finds the live state neither
    # this nor its own target raises :class:`~deployctl.errors.ResourceChanged`.
    before: Mapping[str, Any] = field(default_factory=dict)
    # Hides the run's secret values: call it on any text before cutting or
    # quoting it (a cut secret no longer matches and would show in part).
    redact: Callable[[str], str] = str


@dataclass(frozen=True)
class Observation:
    """What ``observe`` saw: whether the step's effect is already live, and the
    outputs to record if so (e.g. the version an earlier attempt published)."""

    applied: bool
    outputs: Mapping[str, Any] = field(default_factory=dict)
    detail: str = ""


@dataclass(frozen=True)
class CheckResult:
    """One gate check.  ``status`` is pass, fail or no_data; ``tripped`` lists the
    rollback triggers breached (any one fails the gate at once)."""

    status: str
    values: Mapping[str, float | None] = field(default_factory=dict)
    tripped: tuple[str, ...] = ()
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "values": dict(self.values),
            "tripped": list(self.tripped),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class ResourceState:
    """One live resource as ``describe`` read it, for the plan diff and the
    saved-plan fingerprints.

    ``key`` is stable and readable (``lambda-alias us-east-1 api-handler:live``);
    ``state`` is JSON-able (``None``: the resource does not exist); ``display``
    is one short line for people (``v7 100%``).
    """

    key: str
    state: Any
    display: str

    @property
    def fingerprint(self) -> str:
        """sha256 of the canonical state: equal fingerprints, same resource state."""
        body = json.dumps(self.state, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class Read:
    """One resource to read for the plan diff: its key, and the step (with its
    partly resolved params) that names it."""

    key: str
    step: Step
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Preview:
    """What one step would do to the resources it touches, predicted from
    their (predicted) live state without changing anything.

    ``after`` is the display of the resource once the step is done; ``changes``
    is False when the step's effect is already live; ``states`` gives the
    predicted state of each touched resource after the step (the next step on
    the same resource previews from it); ``outputs`` are the step's outputs
    as far as they can be known (``${...}`` references of later steps);
    ``every_run`` marks a step that acts on each run by design."""

    after: str
    changes: bool
    states: Mapping[str, Any] = field(default_factory=dict)
    outputs: Mapping[str, Any] = field(default_factory=dict)
    # The step acts on every run whatever the state (a restore-point snapshot):
    # shown, but not counted as a change, so a converged plan still exits 0.
    every_run: bool = False


class Action(abc.ABC):
    """One step kind's behaviour.  Subclass it, then register an instance.

    ``observe`` and ``apply`` are required; ``undo`` is needed for steps the
    plan marks with an ``undo``; ``check`` for gates.
    """

    gate: ClassVar[bool] = False

    @abc.abstractmethod
    def observe(self, request: StepRequest) -> Observation:
        """Read live state: has this step's effect already happened?

        Called before re-sending an intent that has no done record.  Must not
        change anything.
        """

    @abc.abstractmethod
    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        """Make the change (idempotently) and return the step's outputs.

        The keys should cover ``request.step.outputs``; later steps read them
        through ``${name}`` references.  Read-only steps (``mutating=False``,
        like discovery) return what they found.
        """

    def undo(self, request: StepRequest, outputs: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """Compensate a completed ``apply`` whose ``outputs`` are given.

        May return what the undo left on purpose (JSON-able, journaled with
        the ``undone`` record); a ``note`` there is shown to people, e.g.
        records kept because removing them would leave a name serving
        traffic with none.
        """
        raise NotImplementedError(f"{request.step.kind}: no undo")

    def before(self, request: StepRequest) -> Mapping[str, Any] | None:
        """What undo needs to know of the state this step replaces, read before
        anything is sent (default: nothing).

        The executor journals it with the step's first intent and hands it to
        ``undo`` under the step's outputs (``apply``'s own outputs win).  So
        when a crash cuts the run between the call and its done record, and
        ``observe`` then finds the change in place, undo still restores the
        weights that were there, not a guess.  Must not change anything.
        """
        return None

    def check(self, request: StepRequest) -> CheckResult:
        """One gate evaluation (gates only)."""
        raise NotImplementedError(f"{request.step.kind}: not a gate")

    def window(self, request: StepRequest) -> float | None:
        """A gate's window in seconds when only live state can tell (a target
        group's deregistration delay), read when the window starts; None (the
        default): the step's own ``duration``."""
        return None

    # -- the plan diff (optional) --------------------------------------------------
    #
    # ``params`` here are only partly resolved: a ``${...}`` reference that no
    # read could predict stays in the string.  Keys are built from identity
    # params (function and alias, listener, flag), so they rarely need one; a
    # key that still holds ``${`` is not read.

    def resources(self, step: Step, params: Mapping[str, Any]) -> tuple[str, ...]:
        """Keys of the live resources this step touches (default: none); the
        first is the one it changes, any others it only reads."""
        return ()

    def describe(self, step: Step, params: Mapping[str, Any], key: str) -> ResourceState:
        """Read resource ``key`` (one of :meth:`resources`) in one call where the
        API allows.  Must not change anything."""
        raise NotImplementedError(f"{step.kind}: no describe")

    def batch(self, step: Step, params: Mapping[str, Any], key: str) -> str | None:
        """Keys given the same name here are read together, by one
        :meth:`describe_many` call (the SSM parameters of one region, the
        flags of one AppConfig document); None (the default) reads ``key``
        alone through :meth:`describe`."""
        return None

    def describe_many(self, reads: Sequence[Read]) -> Mapping[str, ResourceState]:
        """Read every key of ``reads`` (all of one :meth:`batch` name) in as few
        calls as the API allows: a state for each key.  Must not change
        anything.  The default reads them one by one."""
        return {r.key: self.describe(r.step, r.params, r.key) for r in reads}

    def preview(self, step: Step, params: Mapping[str, Any], states: Mapping[str, Any]) -> Preview:
        """What this step would do, given the current ``state`` of each of its
        resource keys (as predicted after the earlier steps)."""
        raise NotImplementedError(f"{step.kind}: no preview")

    def change_set(self, step: Step, params: Mapping[str, Any]) -> Sequence[str] | None:
        """What the service itself says this step would change, one line each
        (``Add AWS::SSM::Parameter Settings``), for ``plan --change-sets``;
        None when the action has no such preview.  Unlike ``describe`` this
        may need write rights (a change set is created, read and deleted),
        which is why ``plan`` asks only when told to."""
        return None


class SecretSource(Protocol):
    """Reads the value behind a ``${scheme:name}`` secret reference
    (``${ssm:/db/password}``) right before an action that needs it.

    The value goes into that action's request only; the executor never
    journals it and redacts it from every output.  An error must name the
    parameter, never carry a value.
    """

    @abc.abstractmethod
    def read(self, name: str, region: str | None) -> str:
        """The (decrypted) value of ``name`` in ``region`` (None: the default region)."""


Register = Callable[["Registry"], None]


class Registry:
    """Step kind -> action.  Built-ins and plugins both arrive through a
    ``register(registry)`` function (plugins via the ``deployctl.actions``
    entry-point group), so neither is special."""

    def __init__(self) -> None:
        self._actions: dict[str, Action] = {}
        self._secrets: dict[str, SecretSource] = {}

    def register(self, kind: str, action: Action, *, replace: bool = False) -> None:
        if kind in self._actions and not replace:
            raise ValueError(f"an action for {kind!r} is already registered")
        self._actions[kind] = action

    def get(self, kind: str) -> Action:
        return self._actions[kind]

    def __contains__(self, kind: object) -> bool:
        return kind in self._actions

    def kinds(self) -> list[str]:
        return sorted(self._actions)

    # -- secret references: ${scheme:name} ------------------------------------------

    def register_secrets(self, scheme: str, source: SecretSource, *, replace: bool = False) -> None:
        if scheme in self._secrets and not replace:
            raise ValueError(f"a secret source for {scheme!r} is already registered")
        self._secrets[scheme] = source

    def secret_source(self, scheme: str) -> SecretSource | None:
        return self._secrets.get(scheme)

    def secret_sources(self) -> dict[str, SecretSource]:
        return dict(self._secrets)


class Sender(Protocol):
    """Delivers one notification to one target (a topic ARN, a URL)."""

    @abc.abstractmethod
    def send(self, target: str, subject: str, payload: Mapping[str, Any]) -> None: ...
