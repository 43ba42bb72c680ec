"""The safety-invariant harness (tests/safety): an example plan on an
embedded AWS (moto, in process), a fault, a kill after some journal record,
the resumes that follow, and then a look at the world
(:class:`deployctl.testing.invariants.World`).

One embedded AWS serves every case: reset between cases, one set of boto3
clients, the sandbox's seeding (``deployctl.actions.sandbox.prepare``) and
its fault layer (``fail@STEP`` fails a step or a check, ``METRIC=VALUE@GATE``
breaches a gate), a virtual clock, and the real executor with its journal
under the test's tmp folder.  A kill is a journal that stops after its K-th
record: the writer of record K and every later writer raise :class:`Killed`
(what a SIGKILL leaves: calls in flight may land, nothing more is journaled).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto import mock_aws
from moto.moto_api._internal.models import moto_api_backend

from deployctl.actions.aws import Clients
from deployctl.actions.common import CheckAction
from deployctl.actions.sandbox import FAKE_KEYS, MOTO_ENV, Sandbox, Seeded, prepare, seed_world
from deployctl.actions.sandbox import _registry as sandbox_registry
from deployctl.core.kinds import StepKind
from deployctl.core.plan import Plan, Step
from deployctl.errors import EXIT_INTERRUPTED, EXIT_WAITING
from deployctl.execute import api
from deployctl.execute.runner import Executor, Options
from deployctl.execute.state import fold
from deployctl.state.api import Fence, Journal, Record, RunInfo
from deployctl.state.sqlite import SqliteStore
from deployctl.testing.clock import VirtualClock
from deployctl.testing.invariants import World
from deployctl.testing.motostate import Backends, restore, snapshot

UNHEALTHY = "unhealthy-green"  # a harness fault: green's targets are stopped before the run


class Killed(BaseException):
    """The process is gone: nothing after this is journaled."""


class Dying(Journal):
    """A journal that dies after its ``after``-th record (that one is durable)."""

    def __init__(self, inner: Journal, after: int) -> None:
        self.inner, self.after, self.count = inner, after, 0

    def hold(self, fence: Fence | None) -> None:
        self.inner.hold(fence)

    def create_run(self, plan: Plan, user: str, stored: Mapping[str, Any]) -> RunInfo:
        return self.inner.create_run(plan, user, stored)

    def get_run(self, run_id: str) -> RunInfo:
        return self.inner.get_run(run_id)

    def runs(self, project: str | None = None, environment: str | None = None) -> list[RunInfo]:
        return self.inner.runs(project, environment)

    def plan_json(self, run_id: str) -> dict[str, Any]:
        return self.inner.plan_json(run_id)

    def append(self, run_id: str, type: str, **kw: Any) -> Record:
        if self.count >= self.after:
            raise Killed
        record = self.inner.append(run_id, type, **kw)
        self.count += 1
        if self.count >= self.after:
            raise Killed
        return record

    def records(self, run_id: str) -> list[Record]:
        return self.inner.records(run_id)

    def set_status(self, run_id: str, status: str, *, durable: bool = True) -> None:
        if self.count < self.after:
            self.inner.set_status(run_id, status, durable=durable)

    def close(self) -> None:
        self.inner.close()


# --- faults ---------------------------------------------------------------------------


def _trip(step: Step) -> str:
    """A metric fault that fails this gate at its first check."""
    params = step.params
    if params.get("metric") and params.get("threshold") is not None:
        return f"{params['metric']}={float(params['threshold']) * 10 + 1:g}@{step.id}"
    trigger = (params.get("triggers") or [{}])[0]
    value = float(trigger.get("value", 0.0))
    bad = value * 10 + 1 if str(trigger.get("op", ">")).startswith(">") else -1.0
    return f"{trigger.get('metric', 'ErrorRate')}={bad:g}@{step.id}"


def fault_places(plan: Plan, clients: Clients) -> list[str | None]:
    """None (no fault), then every gate breached and every step failed."""
    registry = sandbox_registry(clients)
    out: list[str | None] = [None]
    for step in plan.steps:
        if step.kind == StepKind.APPROVAL:
            continue
        action = registry.get(step.kind)
        if action.gate and not isinstance(action, CheckAction) and step.params.get("triggers"):
            out.append(_trip(step))
        else:
            out.append(f"fail@{step.id}")
    if any(s.kind == StepKind.ALB_SHIFT for s in plan.steps):
        out.append(UNHEALTHY)
    return out


def kill_points(fault: str | None, records: int, count: int) -> list[int]:
    """``count`` journal records to kill after, spread and stable per fault."""
    if records < 2 or count <= 0:
        return []
    seed = int(hashlib.sha256(str(fault).encode()).hexdigest()[:8], 16)
    return sorted({1 + (seed + n * (records // count + 1)) % (records - 1) for n in range(count)})


# --- one case ----------------------------------------------------------------------------


@dataclass
class Result:
    exit_code: int
    records: int
    view: dict[str, Any]
    violations: list[str] = field(default_factory=list)
    before: dict[str, Any] = field(default_factory=dict)
    journal: list[Record] = field(default_factory=list)


@contextlib.contextmanager
def embedded_aws() -> Iterator[Clients]:
    """One in-process moto for many cases (``run_case`` resets it), and the
    actions' clients on it, as the sandbox makes them."""
    old = {k: os.environ.get(k) for k in MOTO_ENV}
    os.environ.update(MOTO_ENV)
    try:
        with mock_aws(config={"lambda": {"use_docker": False}}):
            session = boto3.Session(region_name="us-east-1", **FAKE_KEYS)
            yield Clients(session=session, region="us-east-1")
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def state_dir(base: str | None) -> Iterator[str]:
    """A fresh journal folder under ``base`` (the test's tmp_path: on tmpfs
    when the machine has one, where an fsync costs nothing)."""
    with tempfile.TemporaryDirectory(dir=base, prefix="deployctl-safety-") as path:
        yield path


# id(plan) -> (the plan, what seeding made, moto's state right after).
_SEEDED: dict[int, tuple[Plan, Seeded, Backends]] = {}


def seeded_world(plan: Plan, clients: Clients) -> Seeded:
    """The embedded AWS as seeded for ``plan``, everything else gone: seeded
    the first time (most of a case's cost), put back from a copy after."""
    kept = _SEEDED.get(id(plan))
    if kept is None or kept[0] is not plan:
        moto_api_backend.reset()
        made = seed_world(plan, clients)
        _SEEDED[id(plan)] = (plan, made, snapshot())
        return made
    restore(kept[2])
    return kept[1].copy()


def run_case(
    plan: Plan,
    fault: str | None,
    kill_at: int | None,
    clients: Clients,
    setup: Any = None,
    before: dict[str, Any] | None = None,
    base: str | None = None,
) -> Result:
    """Seed, run (killed after ``kill_at`` records), resume to an end, inspect.

    ``before`` is the world as seeded (in plan ids, so the same for every case
    of a plan); given, it is not read again."""
    faults = [fault] if fault and fault != UNHEALTHY else []
    box = prepare(plan, faults, clients, VirtualClock(), seeded_world(plan, clients))
    if setup is not None:
        setup(box)
    if fault == UNHEALTHY:
        stop_targets(box, plan, "green")
    if before is None:
        before = World(box, plan).view()
    with state_dir(base) as where:
        outcome, records = drive(plan, box, where, kill_at)
        entries = journal_records(where, outcome.run_id)
        state = fold(plan.by_id, entries)
    world = World(box, plan)
    after = world.view()
    found = world.check(before, after, state, entries)
    if outcome.exit_code not in (0, 3, 7):
        found.append(f"ended with exit {outcome.exit_code}: {outcome.message}")
    return Result(outcome.exit_code, records, after, found, before, entries)


def drive(plan: Plan, box: Sandbox, where: str, kill_at: int | None) -> tuple[api.Outcome, int]:
    """Run to an end: killed once (if asked), then resumed until it ends."""
    outcome: api.Outcome | None = None
    for attempt in range(10):
        ex = Executor(where, box.backend, api.Reporter())
        if attempt == 0 and kill_at is not None:
            ex.journal = Dying(ex.journal, kill_at)
        try:
            outcome = ex.apply(plan, Options(auto_approve=True))
        except Killed:
            outcome = None
        finally:
            ex.close()
        if outcome is not None and outcome.exit_code not in (EXIT_WAITING, EXIT_INTERRUPTED):
            return outcome, len(journal_records(where, outcome.run_id))
    raise AssertionError(f"no end after 10 resumes: {outcome}")


def journal_records(where: str, run_id: str) -> list[Record]:
    journal = SqliteStore(where).journal()
    try:
        return journal.records(run_id)
    finally:
        journal.close()


def stop_targets(box: Sandbox, plan: Plan, color: str) -> None:
    for arn in {
        str(s.params[f"{color}_target_group"]) for s in plan.steps if s.kind == StepKind.ALB_SHIFT
    }:
        region = arn.split(":")[3]
        elb = box.clients.client("elbv2", region)
        found = elb.describe_target_health(TargetGroupArn=box.ids.inward(arn))
        ids = [t["Target"]["Id"] for t in found["TargetHealthDescriptions"]]
        box.clients.client("ec2", region).stop_instances(InstanceIds=ids)
