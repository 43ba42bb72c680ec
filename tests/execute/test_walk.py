"""The forward walk: order, parallelism, output passing, resume."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

import pytest

from deployctl.core.ports import Action, Observation, StepRequest
from deployctl.core.records import Record
from deployctl.execute import api
from deployctl.execute.refs import Resolver, UnresolvedReference
from deployctl.execute.stored import stored_plan
from deployctl.testing.fake import FakeWorld
from deployctl.testing.plans import Recorder, make_plan, step


class Concurrency(Action):
    """Counts how many applies run at once; a barrier proves real overlap."""

    def __init__(self, barrier: threading.Barrier | None = None) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.barrier = barrier

    def observe(self, request: StepRequest) -> Observation:
        return Observation(applied=False)

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        if self.barrier is not None:
            self.barrier.wait(timeout=10)
        with self.lock:
            self.now -= 1
        return {}


def records(executor: Any) -> list[Record]:
    (run,) = executor.journal.runs()
    return list(executor.journal.records(run.run_id))


def test_a_step_starts_only_after_every_dependency_is_done(make_executor, world):
    plan = make_plan(
        step("a"), step("b", deps=("a",)), step("c", deps=("a",)), step("d", deps=("b", "c"))
    )
    executor = make_executor()
    assert executor.apply(plan).exit_code == 0
    seq = {(r.type, r.step_id): r.seq for r in records(executor)}
    for child, parent in [("b", "a"), ("c", "a"), ("d", "b"), ("d", "c")]:
        assert seq[("intent", child)] > seq[("done", parent)]
    assert sorted(world.ops("apply")) == ["a", "b", "c", "d"]


def test_independent_steps_really_run_in_parallel(make_executor):
    gate = Concurrency(threading.Barrier(3))
    executor = make_executor()
    executor.backend.registry.register("probe", gate)
    plan = make_plan(*(step(f"s{i}", "probe") for i in range(3)))
    assert executor.apply(plan).exit_code == 0  # a serial walk would break the barrier
    assert gate.peak == 3


def test_parallelism_bounds_steps_in_flight(make_executor):
    from deployctl.execute.runner import Options

    probe = Concurrency()
    executor = make_executor()
    executor.backend.registry.register("probe", probe)
    plan = make_plan(*(step(f"s{i}", "probe") for i in range(12)))
    assert executor.apply(plan, Options(parallelism=2)).exit_code == 0
    assert 1 <= probe.peak <= 2


class Threads(Action):
    """Which thread applied each step.  ``until`` is (x, y): step x goes on
    only once step y has started (or after 10 s), so x's thread is still busy
    when y starts."""

    def __init__(self, until: tuple[str, str] | None = None) -> None:
        self.by_step: dict[str, int] = {}
        self.until = until
        self.started = threading.Event()

    def observe(self, request: StepRequest) -> Observation:
        return Observation(applied=False)

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        self.by_step[request.step.id] = threading.get_ident()
        if self.until and request.step.id == self.until[1]:
            self.started.set()
        if self.until and request.step.id == self.until[0]:
            self.started.wait(10)
        return {}


def threads_of(make_executor, until: tuple[str, str] | None = None, **deps: tuple[str, ...]):
    """Apply steps a, b, c (each with ``deps``) of the probe kind: the
    executor, and the thread each step ran on."""
    probe = Threads(until)
    executor = make_executor()
    executor.backend.registry.register("probe", probe)
    plan = make_plan(*(step(sid, "probe", deps=deps.get(sid, ())) for sid in "abc"))
    assert executor.apply(plan).exit_code == 0
    return executor, probe.by_step


def test_a_step_that_releases_a_dependent_starts_it_on_its_own_worker(make_executor):
    # No hand-off to the main loop and another thread on the critical path:
    # the worker that finished a goes on with b, then with c.
    executor, threads = threads_of(make_executor, b=("a",), c=("b",))
    assert len(set(threads.values())) == 1
    seq = {(r.type, r.step_id): r.seq for r in records(executor)}
    assert seq[("done", "a")] < seq[("intent", "b")] < seq[("done", "b")] < seq[("intent", "c")]


def test_a_fan_out_goes_on_one_branch_in_place_and_the_others_on_other_workers(make_executor):
    # b holds a's worker until c has started: c cannot have run there after b.
    _, threads = threads_of(make_executor, until=("b", "c"), b=("a",), c=("a",))
    assert threads["b"] == threads["a"] != threads["c"]


def test_parallelism_bounds_dependents_a_worker_starts_itself(make_executor):
    from deployctl.execute.runner import Options

    probe = Concurrency()
    executor = make_executor()
    executor.backend.registry.register("probe", probe)
    fan = [step(f"s{i}", "probe", deps=("root",)) for i in range(6)]
    plan = make_plan(step("root", "probe"), *fan)
    assert executor.apply(plan, Options(parallelism=2)).exit_code == 0
    assert 1 <= probe.peak <= 2
    assert sorted(r.step_id for r in records(executor) if r.type == "done") == sorted(
        ["root", *(s.id for s in fan)]
    )


def test_ties_start_in_plan_order_with_one_worker(make_executor):
    from deployctl.execute.runner import Options

    rec = Recorder()
    executor = make_executor(reporter=rec)
    plan = make_plan(step("z"), step("m"), step("a"), step("b", deps=("z",)))
    executor.apply(plan, Options(parallelism=1))
    assert rec.started == ["z", "m", "a", "b"]


def test_outputs_flow_into_later_params(make_executor, world):
    plan = make_plan(
        step(
            "pub",
            "lambda.publish",
            params={"function": "api"},
            outputs=("new_version", "stable_version"),
        ),
        step(
            "shift",
            "lambda.shift",
            ("pub",),
            region="us-east-1",
            params={
                "new_version": "${new_version}",
                "label": "v${new_version}-${region}",
                "nested": [{"x": "${steps.pub.stable_version}"}],
            },
        ),
    )
    assert make_executor().apply(plan).exit_code == 0
    assert world.state["shift"]["params"] == {
        "new_version": "2",
        "label": "v2-us-east-1",
        "nested": [{"x": "1"}],
    }


def test_name_reference_prefers_the_nearest_ancestor_in_the_same_region():
    plan = make_plan(
        step("east/pub", region="east", outputs=("v",)),
        step("west/pub", deps=("east/pub",), region="west", outputs=("v",)),
        step("west/mid", deps=("west/pub",), region="west"),
        step("east/shift", deps=("west/mid",), region="east"),
        step("west/shift", deps=("west/mid",), region="west"),
        step("none/shift", deps=("west/mid",), region="north"),
    )
    outputs = {"east/pub": {"v": "E"}, "west/pub": {"v": "W"}, "west/mid": {}}
    resolver = Resolver(plan, outputs.get)
    # Same region wins even when a nearer ancestor (west/pub) has the output.
    assert resolver.resolve(plan.by_id["east/shift"], "${v}") == "E"
    assert resolver.resolve(plan.by_id["west/shift"], "${v}") == "W"
    # No same-region ancestor: the nearest one.
    assert resolver.resolve(plan.by_id["none/shift"], "${v}") == "W"
    with pytest.raises(UnresolvedReference, match="no ancestor step has an output 'missing'"):
        resolver.resolve(plan.by_id["west/shift"], "x ${missing}")


def test_an_unresolvable_reference_fails_the_step_and_rolls_back(make_executor, world):
    plan = make_plan(step("a"), step("b", deps=("a",), params={"v": "${nope}"}))
    outcome = make_executor().apply(plan)
    assert outcome.exit_code == 3
    assert world.ops("undo") == ["a"]
    assert "nope" in outcome.message


def test_done_steps_are_skipped_on_resume(make_executor, world):
    plan = make_plan(
        step("a"), step("b", deps=("a",)), step("ok", "approval", ("b",)), step("c", deps=("ok",))
    )
    first = make_executor().apply(plan)
    assert first.exit_code == 6
    executor = make_executor()
    executor.approve(first.run_id)
    assert executor.resume(first.run_id).exit_code == 0
    assert world.ops("apply") == ["a", "b", "c"]


def test_an_intent_without_done_is_observed_and_not_resent_if_it_took_effect(make_executor, world):
    plan = make_plan(
        step(
            "a",
            "lambda.publish",
            params={"function": "f"},
            outputs=("new_version", "stable_version"),
        ),
        step("b", deps=("a",), params={"v": "${new_version}"}),
    )
    executor = make_executor()
    run = executor.journal.create_run(plan, "tester", stored_plan(plan))
    token = "t"
    executor.journal.append(
        run.run_id,
        api.INTENT,
        step_id="a",
        attempt=1,
        token=token,
        data={"params": {"function": "f"}},
    )
    # The process "died" after publishing but before writing done.
    world.state["a"] = {
        "kind": "lambda.publish",
        "params": {"function": "f"},
        "outputs": {"new_version": "7", "stable_version": "6"},
    }
    executor.journal.set_status(run.run_id, api.INTERRUPTED)
    assert executor.apply(plan).exit_code == 0
    assert world.ops("observe") == ["a"]
    assert world.ops("apply") == ["b"]  # no second publish
    assert world.state["b"]["params"] == {"v": "7"}


def test_an_intent_without_done_is_resent_when_observe_finds_nothing(make_executor, world):
    plan = make_plan(step("a"))
    executor = make_executor()
    run = executor.journal.create_run(plan, "tester", stored_plan(plan))
    executor.journal.append(run.run_id, api.INTENT, step_id="a", attempt=1, token="t")
    assert executor.apply(plan).exit_code == 0
    assert world.ops("observe") == ["a"]
    assert world.ops("apply") == ["a"]
    attempts = [r.attempt for r in records(executor) if r.type == "intent"]
    assert attempts == [1, 2]


def test_a_resumed_bake_waits_its_whole_window_again(make_executor, clock, world):
    plan = make_plan(step("shift", wait=600.0), step("next", deps=("shift",)))
    executor = make_executor()
    run = executor.journal.create_run(plan, "tester", stored_plan(plan))
    executor.journal.append(run.run_id, api.INTENT, step_id="shift", attempt=1, token="t")
    executor.journal.append(run.run_id, api.DONE, step_id="shift", attempt=1, data={"outputs": {}})
    executor.journal.set_status(run.run_id, api.INTERRUPTED)
    world.state["shift"] = {"kind": "noop", "params": {}, "outputs": {}}
    assert executor.apply(plan).exit_code == 0
    assert clock.slept == [600.0]
    assert world.ops("apply") == ["next"]


def test_an_unknown_step_kind_is_refused_before_anything_runs(make_executor, world):
    from deployctl.errors import UnknownAction

    with pytest.raises(UnknownAction, match=r"mystery\.kind"):
        make_executor().apply(make_plan(step("a"), step("b", "mystery.kind")))
    assert world.log == []


def test_the_fake_world_survives_a_reload(tmp_path):
    world = FakeWorld(str(tmp_path / "w.json"))
    world.data["versions"]["f"] = 3
    world.save()
    assert FakeWorld(str(tmp_path / "w.json")).data["versions"] == {"f": 3}


def test_the_backend_is_the_built_in_aws_actions_with_cloudwatch_whatever_the_env(monkeypatch):
    from deployctl.actions.cloudwatch import CloudWatchMetrics
    from deployctl.actions.registry import load_backend
    from deployctl.core.clock import RealClock

    # The old test switches select nothing any more: only the test harness
    # (deployctl.testing.cli) swaps the backend, in its own child process.
    monkeypatch.setenv("DEPLOYCTL_ACTIONS", f"fake:{os.devnull}")
    monkeypatch.setenv("DEPLOYCTL_TEST_KILL_AFTER_RECORD", "1")
    backend = load_backend(region="us-east-1")
    assert backend.reporters == ()
    assert "lambda.publish" in backend.registry and "gate.analysis" in backend.registry
    assert isinstance(backend.metrics, CloudWatchMetrics)
    assert isinstance(backend.clock, RealClock)


class Ends(Recorder):
    """Step starts and ends, in the order they were reported."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, str]] = []

    def step_started(self, step: Any, attempt: int) -> None:
        super().step_started(step, attempt)
        self.events.append(("start", step.id))

    def step_finished(self, step: Any, result: Any) -> None:
        self.events.append(("done", step.id))


def test_a_step_that_lets_a_read_only_step_start_reports_its_end_first(make_executor) -> None:
    # A read-only step (a gate, a smoke test) writes no intent to share a's
    # commit: it starts once a's end is durable and reported, so what it
    # reads (and what the log shows) comes after a.
    ends = Ends()
    executor = make_executor(reporter=ends)
    plan = make_plan(step("a"), step("b", deps=("a",), mutating=False))
    assert executor.apply(plan).exit_code == 0
    assert ends.events.index(("done", "a")) < ends.events.index(("start", "b"))


def test_the_log_s_order_is_the_journal_s_a_step_ends_before_what_it_releases_starts(
    make_executor,
) -> None:
    # b and c start (b on a's worker, c on another) before a's done record is
    # durable; their intents commit with it or after it, and each is reported
    # started only once its intent is durable: after a's end.
    ends = Ends()
    executor = make_executor(reporter=ends)
    plan = make_plan(step("a"), step("b", deps=("a",)), step("c", deps=("a",)))
    assert executor.apply(plan).exit_code == 0
    done_a = ends.events.index(("done", "a"))
    assert done_a < ends.events.index(("start", "b"))
    assert done_a < ends.events.index(("start", "c"))
    assert ends.events.index(("start", "b")) < ends.events.index(("done", "b"))
