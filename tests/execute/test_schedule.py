"""Schedule.last_to_finish: which step's done record may wait for the run's
end (run_finished) to share its commit."""

from __future__ import annotations

import threading

from deployctl.core.ports import StepResult
from deployctl.core.status import StepStatus
from deployctl.execute.schedule import Schedule
from deployctl.testing.plans import make_plan, step


def _started(*steps: object) -> Schedule:
    sched = Schedule(make_plan(*steps), (), 10, threading.Event())
    while sched.take() is not None:
        pass
    return sched


def test_of_steps_ending_together_only_the_last_to_ask_is_the_walk_s_last() -> None:
    sched = _started(step("a"), step("b"), step("c"))
    assert not sched.last_to_finish("a")  # b and c are still in their calls
    assert not sched.last_to_finish("b")  # c is
    assert sched.last_to_finish("c")  # a and b have only their done records left


def test_a_step_still_in_its_call_or_not_started_keeps_the_walk_going() -> None:
    sched = _started(step("a"), step("b"), step("c", deps=("b",)))
    assert not sched.last_to_finish("a")
    # b ends without releasing c (saturated): c has yet to run.
    assert not sched.last_to_finish("b")
    sched.ended("a", StepResult("a", StepStatus.DONE))
    sched.ended("b", StepResult("b", StepStatus.DONE))
    assert sched.take() == "c"
    assert sched.last_to_finish("c")


def test_a_failed_step_is_not_complete_so_no_step_is_last() -> None:
    sched = _started(step("a"), step("b"))
    assert not sched.last_to_finish("a")
    sched.ended("a", StepResult("a", StepStatus.FAILED, error="boom"))
    assert not sched.last_to_finish("b")
