"""Helpers for executor tests: hand-built plans and a fake world behind the real interfaces.

Imported by the tests in this folder; the fixtures are re-exported from conftest.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from deployctl.actions.fake import FakeMetrics, FakeWorld, fake_registry
from deployctl.actions.registry import Backend
from deployctl.execute.api import Reporter
from deployctl.execute.clock import VirtualClock
from deployctl.execute.runner import Executor
from deployctl.plan.api import Plan, Step


def step(sid: str, kind: str = "noop", deps: tuple[str, ...] = (), **kw: Any) -> Step:
    kw.setdefault("description", sid)
    if kind in ("approval", "gate.analysis", "smoke.http", "alb.discover"):
        kw.setdefault("mutating", False)
    if kw.get("mutating", True):
        kw.setdefault("undo", f"undo {sid}")
    return Step(id=sid, kind=kind, deps=deps, **kw)


def make_plan(*steps: Step, project: str = "demo", environment: str = "prod", **kw: Any) -> Plan:
    return Plan(kind="Deployment", project=project, environment=environment,
                source="plans/demo.yaml", steps=tuple(steps), **kw)


class Recorder(Reporter):
    """Keeps what the executor reported, for assertions."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.messages: list[str] = []
        self.records: list[tuple[str, str | None]] = []

    def step_started(self, step: Step, attempt: int) -> None:
        self.started.append(step.id)

    def message(self, text: str) -> None:
        self.messages.append(text)

    def record(self, record: Any) -> None:
        self.records.append((record.type, record.step_id))


@pytest.fixture
def world(tmp_path: Path) -> FakeWorld:
    return FakeWorld(str(tmp_path / "world.json"))


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def make_executor(
    tmp_path: Path, world: FakeWorld, clock: VirtualClock
) -> Iterator[Callable[..., Executor]]:
    made: list[Executor] = []

    def make(**kw: Any) -> Executor:
        backend = Backend(fake_registry(world), clock, FakeMetrics(world))
        kw.setdefault("reporter", Recorder())
        executor = Executor(str(tmp_path / "state"), backend, **kw)
        made.append(executor)
        return executor

    yield make
    for executor in made:
        executor.close()
