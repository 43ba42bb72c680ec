"""A fake world: an in-memory implementation of the action interface that
records every mutation, persisted to a JSON file so subprocesses share it.

World file (every key optional when you write one by hand)::

    {"state":   {step_id: {"kind", "params", "outputs"}},   # what is live now
     "log":     [{"op": "apply"|"undo"|"observe"|"check", "step": id, ...}],
     "versions": {function: last published version number},
     "fail":      {step_id: n},   # the next n applies of that step raise
     "fail_undo": {step_id: n},   # the next n undos raise
     "fail_check": {step_id: n},  # the next n checks of a smoke step fail
     "metrics": {region|"*": {metric: value | null | [v1, v2, ...]}},
     "alarms": {name: "OK"|"ALARM"|"INSUFFICIENT_DATA"},  # rollback.alarms; absent: missing
     "parameters": {name: value},   # what ${ssm:name} reads (any region)
     "block": {step_id: fifo_path}}  # apply opens the FIFO and waits for a writer

A list of metric values is consumed one per check (the last one repeats);
``null`` is no data.  ``crash_after_apply=K`` kills the process right after
the K-th apply took effect (before its done record): a crash-matrix hook
(:mod:`deployctl.testing.crash`).

Test support only: the CLI reaches it through :mod:`deployctl.testing.cli`,
which assembles this backend in the process it runs deployctl in.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from deployctl import files
from deployctl.actions.registry import Backend, default_registry
from deployctl.core.kinds import StepKind
from deployctl.core.plan import MetricDef
from deployctl.core.ports import (
    FAIL,
    PASS,
    Action,
    CheckResult,
    MetricsSource,
    Observation,
    Registry,
    SecretSource,
)
from deployctl.core.ports import StepRequest as Request
from deployctl.errors import DeployctlError
from deployctl.manifest.secrets import SSM_SCHEME
from deployctl.testing.clock import VirtualClock
from deployctl.testing.crash import kill_self

# Every kind the planner emits, so hand-built and compiled plans both run.
MUTATING_KINDS = (
    StepKind.LAMBDA_UPDATE_CODE,
    StepKind.LAMBDA_PUBLISH,
    StepKind.LAMBDA_SHIFT,
    StepKind.LAMBDA_CLEANUP_VERSIONS,
    StepKind.ALB_SHIFT,
    StepKind.ROUTE53_SHIFT,
    StepKind.CLOUDFRONT_SHIFT,
    StepKind.CLOUDFORMATION_DEPLOY,
    StepKind.ECS_REGISTER,
    StepKind.ECS_UPDATE_SERVICE,
    StepKind.ECS_CREATE_TASK_SET,
    StepKind.ECS_SET_PRIMARY,
    StepKind.ECS_DELETE_TASK_SET,
    StepKind.COMMAND_RUN,
    StepKind.FLAG_SET,
    StepKind.RDS_SNAPSHOT,
    StepKind.LAMBDA_INVOKE,
    StepKind.ROUTE53_ROUTING,
    StepKind.CLOUDWATCH_ALARMS,
    "noop",
)
READ_KINDS = (
    StepKind.ALB_DISCOVER,
    StepKind.ROUTE53_DISCOVER,
    StepKind.CLOUDFRONT_DISCOVER,
    StepKind.ECS_DISCOVER,
)
CHECK_KINDS = (StepKind.SMOKE_HTTP, StepKind.SMOKE_LAMBDA, StepKind.ALB_DRAIN)


class FakeFailure(DeployctlError):
    """What the fake raises when told to fail."""


class FakeWorld:
    """``crash_after_apply``: SIGKILL the process right after that many applies."""

    def __init__(
        self,
        path: str | None = None,
        data: Mapping[str, Any] | None = None,
        *,
        crash_after_apply: int | None = None,
        after_apply: Callable[[], None] | None = None,
    ) -> None:
        self.path = path
        self.after_apply = after_apply
        self._lock = threading.Lock()
        if data is None and path and os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        self.data: dict[str, Any] = json.loads(json.dumps(dict(data or {})))
        for key in (
            "state",
            "versions",
            "fail",
            "fail_undo",
            "fail_check",
            "metrics",
            "parameters",
        ):
            self.data.setdefault(key, {})
        self.data.setdefault("log", [])
        self.applies = 0
        self.crash_at = crash_after_apply

    # -- persistence -------------------------------------------------------------

    def save(self) -> None:
        """Atomically replace the file, so a SIGKILL never leaves half a world."""
        if not self.path:
            return
        text = json.dumps(self.data, sort_keys=True, indent=1)
        files.replace_atomically(self.path, text.encode("utf-8"), durable=True)

    @property
    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.data["state"]
        return state

    @property
    def log(self) -> list[dict[str, Any]]:
        log: list[dict[str, Any]] = self.data["log"]
        return log

    def ops(self, op: str) -> list[str]:
        """Step ids of every logged ``op``, in order."""
        return [entry["step"] for entry in self.log if entry["op"] == op]

    def _take(self, table: str, step_id: str) -> bool:
        left = int(self.data[table].get(step_id, 0))
        if left <= 0:
            return False
        self.data[table][step_id] = left - 1
        return True

    # -- behaviour -----------------------------------------------------------------

    def observe(self, request: Request) -> Observation:
        with self._lock:
            entry = self.state.get(request.step.id)
            self.log.append({"op": "observe", "step": request.step.id, "found": entry is not None})
            self.save()
        if entry is None:
            return Observation(applied=False)
        return Observation(applied=True, outputs=entry["outputs"], detail="found in fake world")

    def apply(self, request: Request) -> dict[str, Any]:
        step = request.step
        fifo = self.data.get("block", {}).get(step.id)
        if fifo:
            # Hold here (holding the run lock) until the test opens the FIFO:
            # a rendezvous, not a sleep.
            with open(fifo, encoding="utf-8") as fh:
                fh.read()
        with self._lock:
            if self._take("fail", step.id):
                self.log.append({"op": "fail", "step": step.id})
                self.save()
                raise FakeFailure(f"fake failure applying {step.id}")
            if not step.mutating:
                return self._read(request)
            outputs = self._outputs(request)
            self.state[step.id] = {
                "kind": step.kind,
                "params": dict(request.params),
                "outputs": outputs,
            }
            self.log.append(
                {"op": "apply", "step": step.id, "attempt": request.attempt, "token": request.token}
            )
            self.save()
            self.applies += 1
            if self.crash_at is not None and self.applies >= self.crash_at:
                kill_self()
            if self.after_apply is not None:
                self.after_apply()
        return outputs

    def undo(self, request: Request, outputs: Mapping[str, Any]) -> None:
        with self._lock:
            if self._take("fail_undo", request.step.id):
                self.log.append({"op": "undo_fail", "step": request.step.id})
                self.save()
                raise FakeFailure(f"fake failure undoing {request.step.id}")
            self.state.pop(request.step.id, None)
            self.log.append({"op": "undo", "step": request.step.id, "outputs": dict(outputs)})
            self.save()

    def check(self, request: Request) -> CheckResult:
        with self._lock:
            failed = self._take("fail_check", request.step.id)
            self.log.append({"op": "check", "step": request.step.id, "ok": not failed})
            self.save()
        return CheckResult(FAIL if failed else PASS, detail="fake check")

    def metric(self, region: str | None, name: str) -> float | None:
        with self._lock:
            table = self.data["metrics"].get(region or "*") or self.data["metrics"].get("*", {})
            if name not in table:
                return None
            value = table[name]
            if isinstance(value, list):
                value = value.pop(0) if len(value) > 1 else (value[0] if value else None)
                self.save()
            return None if value is None else float(value)

    def _read(self, request: Request) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if request.step.kind.endswith(".discover"):
            live = self.data.get("live_color", "blue")
            out = {"live_color": live, "idle_color": "green" if live == "blue" else "blue"}
            # What else a discover finds (the live task definition...), as placeholders.
            for name in request.step.outputs:
                out.setdefault(name, f"{name}@{request.step.id}")
        self.log.append({"op": "read", "step": request.step.id})
        self.save()
        return out

    def _outputs(self, request: Request) -> dict[str, Any]:
        step = request.step
        out: dict[str, Any] = {}
        if step.kind == StepKind.LAMBDA_PUBLISH:
            function = str(request.params.get("function", "fn"))
            stable = int(self.data["versions"].get(function, 1))
            # A second publish would show up as a different version downstream.
            self.data["versions"][function] = stable + 1
            out = {"new_version": str(stable + 1), "stable_version": str(stable)}
        for name in step.outputs:
            out.setdefault(name, f"{name}@{step.id}")
        return out


class FakeAction(Action):
    def __init__(self, world: FakeWorld) -> None:
        self.world = world

    def observe(self, request: Request) -> Observation:
        return self.world.observe(request)

    def apply(self, request: Request) -> Mapping[str, Any]:
        return self.world.apply(request)

    def undo(self, request: Request, outputs: Mapping[str, Any]) -> None:
        self.world.undo(request, outputs)


class FakeCheck(FakeAction):
    gate = True

    def check(self, request: Request) -> CheckResult:
        return self.world.check(request)


class FakeMetrics(MetricsSource):
    def __init__(self, world: FakeWorld) -> None:
        self.world = world
        self.fetches: list[tuple[str | None, tuple[str, ...]]] = []

    def fetch(
        self, region: str | None, metrics: Mapping[str, MetricDef], start: float, end: float
    ) -> Mapping[str, float | None]:
        self.fetches.append((region, tuple(metrics)))
        return {name: self.world.metric(region, name) for name in metrics}

    def alarm_states(self, region: str | None, names: Sequence[str]) -> Mapping[str, str | None]:
        """From the world's ``alarms`` (name -> state); a name not there does not exist."""
        with self.world._lock:
            table = dict(self.world.data.get("alarms") or {})
        return {name: table.get(name) for name in names}


class FakeSecrets(SecretSource):
    """``${ssm:name}`` from the world's ``parameters`` (the same in every region)."""

    def __init__(self, world: FakeWorld) -> None:
        self.world = world

    def read(self, name: str, region: str | None) -> str:
        with self.world._lock:
            value = self.world.data["parameters"].get(name)
        if value is None:
            raise FakeFailure(f"SSM parameter {name} does not exist in {region}")
        return str(value)


def fake_registry(world: FakeWorld) -> Registry:
    registry = default_registry(plugins=False)
    registry.register_secrets(SSM_SCHEME, FakeSecrets(world))
    action, check = FakeAction(world), FakeCheck(world)
    for kind in MUTATING_KINDS + READ_KINDS:
        registry.register(kind, action)
    for kind in CHECK_KINDS:
        registry.register(kind, check)
    return registry


def fake_backend(
    path: str,
    *,
    crash_after_apply: int | None = None,
    after_apply: Callable[[], None] | None = None,
) -> Backend:
    """The fake world in ``path`` with a virtual clock; ``after_apply`` is
    called right after each change it makes (a :class:`~deployctl.testing.crash.Pauser`)."""
    world = FakeWorld(path, crash_after_apply=crash_after_apply, after_apply=after_apply)
    return Backend(fake_registry(world), VirtualClock(), FakeMetrics(world))


# -- a world file in a folder, for CLI runs (deployctl.testing.cli, fake_world=) --------

HEALTHY: dict[str, Any] = {"metrics": {"*": {"ErrorRate": 0.001, "Latency": 100}}}


def new_world(folder: Path, data: Mapping[str, Any] = HEALTHY) -> Path:
    """``folder/world.json`` holding ``data``; returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "world.json").write_text(json.dumps(data), encoding="utf-8")
    return folder


def read_world(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "world.json").read_text(encoding="utf-8"))
    return data


def applies(folder: Path) -> Counter[str]:
    """step id -> how many times the world applied it."""
    return Counter(e["step"] for e in read_world(folder).get("log", []) if e["op"] == "apply")
