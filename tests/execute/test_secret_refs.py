"""``${ssm:/path}`` in the executor: the action's request gets the value, the
journal keeps the reference, and anything that echoes the value (outputs,
errors, progress lines) shows a hash or ``***`` instead."""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from deployctl.actions.registry import Backend
from deployctl.core.ports import Action, Observation, Registry, SecretSource, StepRequest
from deployctl.execute.runner import Executor
from deployctl.output.log import LogReporter
from deployctl.testing.clock import VirtualClock
from deployctl.testing.fake import FakeMetrics, FakeWorld, fake_registry
from deployctl.testing.plans import make_plan, step

SECRET = 'ssm-"q\\uote-S3CR3T'  # a quote and a backslash: JSON would escape them
REF = "${ssm:/vault/api-token}"
HASHED = f"<redacted:{hashlib.sha256(SECRET.encode()).hexdigest()[:8]}>"


class Echo(Action):
    """Records every request; its outputs (and, when told, its error) echo the params."""

    def __init__(self) -> None:
        self.applied: list[dict[str, Any]] = []
        self.undone: list[dict[str, Any]] = []
        self.fail = False

    def observe(self, request: StepRequest) -> Observation:
        return Observation(applied=False)

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        self.applied.append(dict(request.params))
        if self.fail:
            raise RuntimeError(f"the server refused header {request.params['header']}")
        return {"echo": request.params["header"]}

    def undo(self, request: StepRequest, outputs: Mapping[str, Any]) -> None:
        self.undone.append(dict(request.params))


class Counting(SecretSource):
    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = dict(values)
        self.reads: list[tuple[str, str | None]] = []

    def read(self, name: str, region: str | None) -> str:
        self.reads.append((name, region))
        if name not in self.values:
            raise LookupError(f"SSM parameter {name} does not exist in {region}")
        return self.values[name]


@pytest.fixture
def echo() -> Echo:
    return Echo()


@pytest.fixture
def source() -> Counting:
    return Counting({"/vault/api-token": SECRET})


@pytest.fixture
def executor(
    tmp_path: Path, echo: Echo, source: Counting
) -> Iterator[tuple[Executor, io.StringIO]]:
    registry = fake_registry(FakeWorld(str(tmp_path / "world.json")))
    registry.register("echo", echo)
    registry.register_secrets("ssm", source, replace=True)
    out = io.StringIO()
    backend = Backend(registry, VirtualClock(), FakeMetrics(FakeWorld()))
    made = Executor(str(tmp_path / "state"), backend, LogReporter(out))
    yield made, out
    made.close()


def _journal(tmp_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted((tmp_path / "state").rglob("*")) if p.is_file())


def _records(ex: Executor, run_id: str, type_: str) -> list[dict[str, Any]]:
    """The records as stored (read back from SQLite, not this process's memory)."""
    return [dict(r.data) for r in ex.journal.records(run_id) if r.type == type_]


def _assert_nowhere(tmp_path: Path, *texts: str) -> None:
    journal = _journal(tmp_path)
    for form in (SECRET, json.dumps(SECRET)[1:-1]):
        assert form.encode() not in journal
        for text in texts:
            assert form not in text


def test_the_action_gets_the_value_and_the_journal_keeps_the_reference(
    tmp_path: Path, executor: tuple[Executor, io.StringIO], echo: Echo, source: Counting
) -> None:
    ex, out = executor
    plan = make_plan(
        step("one", "echo", params={"header": f"Bearer {REF}"}, region="eu-west-1"),
        step("two", "echo", deps=("one",), params={"header": REF}, region="eu-west-1"),
    )
    outcome = ex.apply(plan)
    assert outcome.exit_code == 0, outcome.message
    assert echo.applied == [{"header": f"Bearer {SECRET}"}, {"header": SECRET}]
    # One read per parameter and region for the whole run, in the step's region.
    assert source.reads == [("/vault/api-token", "eu-west-1")]
    intents = [r["params"]["header"] for r in _records(ex, outcome.run_id, "intent")]
    assert intents == [f"Bearer {REF}", REF]
    # The outputs echoed the value: journaled as its hash, printed redacted.
    outputs = [r["outputs"]["echo"] for r in _records(ex, outcome.run_id, "done")]
    assert outputs == [f"Bearer {HASHED}", HASHED]
    assert re.search(r"done   one in 00:00 echo=Bearer <redacted:\w+>", out.getvalue())
    _assert_nowhere(tmp_path, out.getvalue())


def test_an_error_that_echoes_the_value_is_redacted_everywhere(
    tmp_path: Path, executor: tuple[Executor, io.StringIO], echo: Echo
) -> None:
    ex, out = executor
    echo.fail = True
    plan = make_plan(step("one", "echo", params={"header": REF}))
    outcome = ex.apply(plan)
    assert outcome.exit_code == 3  # failed, rolled back
    (failed,) = _records(ex, outcome.run_id, "failed")
    assert failed["error"] == f"the server refused header {HASHED}"
    assert re.search(
        r"FAILED one in 00:00: the server refused header <redacted:\w+>", out.getvalue()
    )
    _assert_nowhere(tmp_path, out.getvalue())


def test_a_missing_parameter_fails_the_step_and_names_the_reference(
    tmp_path: Path, executor: tuple[Executor, io.StringIO], echo: Echo
) -> None:
    ex, _ = executor
    plan = make_plan(step("one", "echo", params={"header": "${ssm:/vault/nope}"}))
    outcome = ex.apply(plan)
    assert outcome.exit_code == 3
    assert echo.applied == []  # nothing was sent
    (failed,) = _records(ex, outcome.run_id, "failed")
    assert failed["error"] == (
        "step one: cannot resolve ${ssm:/vault/nope}: SSM parameter /vault/nope does not exist in None"
    )


def test_a_backend_without_a_source_says_so(tmp_path: Path, echo: Echo) -> None:
    registry = Registry()  # no secret source at all
    registry.register("echo", echo)
    ex = Executor(str(tmp_path / "state"), Backend(registry, VirtualClock()))
    try:
        outcome = ex.apply(make_plan(step("one", "echo", params={"header": REF})))
        (failed,) = _records(ex, outcome.run_id, "failed")
    finally:
        ex.close()
    assert outcome.exit_code == 3
    assert failed["error"] == (
        f"step one: cannot resolve {REF}: this backend cannot read ssm parameters"
    )


class Boom(Action):
    def observe(self, request: StepRequest) -> Observation:
        return Observation(applied=False)

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        raise RuntimeError("boom")


def test_the_undo_gets_the_value_too(
    tmp_path: Path, executor: tuple[Executor, io.StringIO], echo: Echo
) -> None:
    ex, out = executor
    ex.backend.registry.register("boom", Boom())
    plan = make_plan(
        step("one", "echo", params={"header": REF}),
        step("two", "boom", deps=("one",)),
    )
    outcome = ex.apply(plan)
    assert outcome.exit_code == 3, outcome.message
    assert echo.undone == [{"header": SECRET}]
    assert [r["undo"] for r in _records(ex, outcome.run_id, "undo_intent")] == ["undo one"]
    _assert_nowhere(tmp_path, out.getvalue())


def test_a_run_with_only_references_resumes_by_run_id(
    tmp_path: Path, executor: tuple[Executor, io.StringIO], echo: Echo, source: Counting
) -> None:
    """The journal holds the plan whole (a reference is not a secret), so
    ``resume RUN_ID`` needs no plan file: it reads the parameter again."""
    ex, _ = executor
    plan = make_plan(
        step("ok", "approval"),
        step("one", "echo", deps=("ok",), params={"header": REF}),
    )
    paused = ex.apply(plan)
    assert paused.exit_code == 6
    ex.approve(paused.run_id)
    done = ex.resume(paused.run_id)
    assert done.exit_code == 0, done.message
    assert echo.applied == [{"header": SECRET}]
    _assert_nowhere(tmp_path)


class Tagged(Action):
    """A step whose output is someone else's data (a tag value, an API
    answer) that happens to look like a secret reference."""

    def __init__(self, value: str) -> None:
        self.value = value

    def observe(self, request: StepRequest) -> Observation:
        return Observation(applied=False)

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        return {"tag": self.value}


def test_a_reference_that_comes_from_an_output_is_passed_as_text_never_read(
    tmp_path: Path, executor: tuple[Executor, io.StringIO], echo: Echo, source: Counting
) -> None:
    ex, _ = executor
    source.values["/vault/other"] = "0THER-S3CR3T"
    ex.backend.registry.register("tagged", Tagged("${ssm:/vault/other}"))
    plan = make_plan(
        step("read", "tagged"),
        step("one", "echo", deps=("read",), params={"header": "${steps.read.tag}"}),
        # The step reads a secret of its own: that one, and only that one.
        step("two", "echo", deps=("one",), params={"header": f"{REF} ${{steps.read.tag}}"}),
    )
    outcome = ex.apply(plan)
    assert outcome.exit_code == 0, outcome.message
    assert echo.applied == [
        {"header": "${ssm:/vault/other}"},
        {"header": f"{SECRET} ${{ssm:/vault/other}}"},
    ]
    assert source.reads == [("/vault/api-token", None)]
