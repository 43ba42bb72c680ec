"""Rollback order, one-way doors, undo failures, rollback by hand, interrupts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deployctl.core.ports import Observation, StepRequest
from deployctl.execute import api
from deployctl.execute.stored import stored_plan
from deployctl.testing.fake import FakeAction
from deployctl.testing.plans import make_plan, step


def test_undo_runs_in_reverse_completion_order_and_skips_steps_without_undo(make_executor, world):
    world.data["fail"]["boom"] = 1
    plan = make_plan(
        step("a"),
        step("read", "alb.discover", deps=("a",), outputs=("live_color", "idle_color")),
        step("b", deps=("read",)),
        step("c", deps=("b",), undo=None),
        step("boom", deps=("c",)),
        step("after", deps=("boom",)),
    )
    outcome = make_executor().apply(plan)
    assert outcome.exit_code == 3
    assert outcome.status == "rolled_back"
    assert world.ops("undo") == ["b", "a"]
    assert "after" not in world.ops("apply")
    assert set(world.state) == {"c"}  # nothing to undo for c, by the plan's word


def test_in_flight_steps_finish_before_rollback_and_are_undone(make_executor, world):
    from deployctl.execute.runner import Options

    class FailWhenSiblingStarted(FakeAction):
        def apply(self, request: StepRequest) -> Mapping[str, Any]:
            raise RuntimeError("broken")

    executor = make_executor()
    executor.backend.registry.register("broken", FailWhenSiblingStarted(world))
    plan = make_plan(step("slow", wait=300.0), step("bad", "broken"), step("later", deps=("bad",)))
    outcome = executor.apply(plan, Options(parallelism=2))
    assert outcome.exit_code == 3
    assert world.ops("apply") == ["slow"]
    assert world.ops("undo") == ["slow"]


def test_rollback_stops_at_a_one_way_door_and_says_what_is_left(make_executor, world):
    world.data["fail"]["boom"] = 1
    plan = make_plan(
        step("flag"),
        step("drop-table", deps=("flag",), one_way=True, undo=None),
        step("flag2", deps=("drop-table",)),
        step("boom", deps=("flag2",)),
    )
    executor = make_executor()
    outcome = executor.apply(plan)
    assert outcome.exit_code == 7
    assert world.ops("undo") == ["flag2"]
    assert "one-way door" in outcome.message and "drop-table" in outcome.message
    assert outcome.left[0].startswith("drop-table")
    assert any(item.startswith("flag:") for item in outcome.left)
    (run,) = executor.journal.runs()
    assert run.status == "rollback_incomplete"


def test_a_failed_undo_leaves_the_rollback_incomplete_and_retryable(make_executor, world):
    world.data["fail"]["boom"] = 1
    world.data["fail_undo"]["b"] = 1
    plan = make_plan(step("a"), step("b", deps=("a",)), step("boom", deps=("b",)))
    executor = make_executor()
    outcome = executor.apply(plan)
    assert outcome.exit_code == 7
    assert "undo of b failed" in outcome.message
    assert [item.split(":")[0] for item in outcome.left] == ["b", "a"]
    # A plain apply refuses to march on over a half-rolled-back run.
    again = make_executor()
    try:
        again.apply(plan)
        raise AssertionError("apply should refuse")
    except Exception as exc:
        assert "deployctl rollback" in str(exc)
    assert make_executor().rollback(outcome.run_id).exit_code == 3
    assert world.ops("undo") == ["b", "a"]
    assert world.state == {}


def test_rollback_by_hand_undoes_a_finished_run(make_executor, world):
    plan = make_plan(step("a"), step("b", deps=("a",)))
    first = make_executor().apply(plan)
    assert first.exit_code == 0
    outcome = make_executor().rollback(first.run_id)
    assert outcome.exit_code == 3
    assert world.ops("undo") == ["b", "a"]
    assert make_executor().rollback(first.run_id).exit_code == 0  # nothing left to do


def test_a_crash_during_rollback_finishes_the_rollback_on_the_next_apply(make_executor, world):
    plan = make_plan(step("a"), step("b", deps=("a",)), step("c", deps=("b",)))
    executor = make_executor()
    run = executor.journal.create_run(plan, "t", stored_plan(plan))
    for n, sid in enumerate(["a", "b"], start=1):
        executor.journal.append(run.run_id, api.INTENT, step_id=sid, attempt=1, token="t")
        executor.journal.append(
            run.run_id, api.DONE, step_id=sid, attempt=1, data={"outputs": {"n": n}}
        )
        world.state[sid] = {}
    executor.journal.append(run.run_id, api.ROLLBACK_STARTED, data={"reason": "gate failed"})
    executor.journal.append(run.run_id, api.UNDO_INTENT, step_id="b", attempt=1)
    outcome = make_executor().apply(plan)
    assert outcome.exit_code == 3
    assert world.ops("undo") == ["b", "a"]  # b again: undos are idempotent
    assert "c" not in world.ops("apply")


def test_interrupt_finishes_in_flight_work_releases_the_lock_and_resumes(make_executor, world):
    executor = make_executor()

    class InterruptDuring(FakeAction):
        def apply(self, request: StepRequest) -> Mapping[str, Any]:
            executor.interrupt()  # as the SIGTERM handler would
            return super().apply(request)

        def observe(self, request: StepRequest) -> Observation:
            return super().observe(request)

    executor.backend.registry.register("signal", InterruptDuring(world))
    plan = make_plan(step("a", "signal"), step("b", deps=("a",)))
    outcome = executor.apply(plan)
    assert outcome.exit_code == 130
    assert world.ops("apply") == ["a"]  # in flight: finished and journaled
    assert "deployctl resume" in str(outcome.left[0])
    (run,) = executor.journal.runs()
    assert run.status == "interrupted"
    # The lock is free and the run goes on where it stopped.
    again = make_executor()
    again.backend.registry.register("signal", FakeAction(world))
    assert again.resume(outcome.run_id).exit_code == 0
    assert world.ops("apply") == ["a", "b"]


def test_an_interrupt_cuts_a_bake_short_and_the_resume_waits_it_again(make_executor, world, clock):
    executor = make_executor()

    class InterruptBeforeBake(FakeAction):
        def apply(self, request: StepRequest) -> Mapping[str, Any]:
            out = super().apply(request)
            executor.interrupt()
            return out

    executor.backend.registry.register("signal", InterruptBeforeBake(world))
    plan = make_plan(step("shift", "signal", wait=900.0), step("b", deps=("shift",)))
    assert executor.apply(plan).exit_code == 130
    assert clock.slept == [900.0]  # the sleep was asked for, and cancelled at once
    again = make_executor()
    again.backend.registry.register("signal", FakeAction(world))
    assert again.apply(plan).exit_code == 0
    assert clock.slept == [900.0, 900.0]
    assert world.ops("apply") == ["shift", "b"]


def test_an_interrupt_during_rollback_stops_between_undos_and_resume_finishes_it(
    make_executor, world
):
    executor = make_executor()

    class InterruptOnUndo(FakeAction):
        def undo(self, request: StepRequest, outputs: Mapping[str, Any]) -> None:
            super().undo(request, outputs)
            executor.interrupt()

    world.data["fail"]["boom"] = 1
    executor.backend.registry.register("signal", InterruptOnUndo(world))
    plan = make_plan(step("a"), step("b", "signal", deps=("a",)), step("boom", deps=("b",)))
    outcome = executor.apply(plan)
    assert outcome.exit_code == 130
    assert world.ops("undo") == ["b"]
    again = make_executor()
    again.backend.registry.register("signal", FakeAction(world))
    assert again.resume(outcome.run_id).exit_code == 3
    assert world.ops("undo") == ["b", "a"]
    assert "boom" not in world.ops("apply")


def test_undo_descriptions_name_the_resolved_versions() -> None:
    from deployctl.execute.rollback import filled

    text = "alias live back to version ${stable_version} at 100%"
    assert filled(text, {"stable_version": "7"}) == "alias live back to version 7 at 100%"
    assert filled(text, {}) == text  # nothing known: say it as planned
    assert filled("weights back to where they were", {"to": "green"}) == (
        "weights back to where they were"
    )


def test_a_rollback_that_waits_longer_than_the_lease_keeps_the_lock_and_finishes(
    make_executor, world
):
    """A rollback waits inline (the health of the side it moves back to, a
    drain), so the lease must be renewed while it runs, or the next undo is
    refused for want of lease.  The lease is 0.8 s on an injected monotonic
    clock; the slow undo moves that clock past the send margin and then waits
    (in real time, bounded) for the renewal, which only the rollback's lease
    keeper can make."""
    import threading

    from deployctl.errors import LeaseExpiring

    mono = [1000.0]
    executor = make_executor(lease=0.8, monotonic=lambda: mono[0])
    renewed = threading.Event()

    class SlowUndo(FakeAction):
        def undo(self, request: StepRequest, outputs: Mapping[str, Any]) -> None:
            mono[0] += 0.6  # the undo's own waits outlast the lease's send margin
            for _ in range(200):
                try:
                    executor.backend.guard.check("probe")
                except LeaseExpiring:
                    renewed.wait(0.05)
                    continue
                renewed.set()
                break
            super().undo(request, outputs)

    executor.backend.registry.register("slow", SlowUndo(world))
    world.data["fail"]["boom"] = 1
    plan = make_plan(step("a"), step("b", "slow", deps=("a",)), step("boom", deps=("b",)))
    outcome = executor.apply(plan)
    assert renewed.is_set()
    assert outcome.exit_code == 3, outcome.message
    assert world.ops("undo") == ["b", "a"]
