"""Approvals, locks and plan changes: what a person or a second runner meets."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from deployctl.core.plan import Plan
from deployctl.core.records import Record
from deployctl.errors import LockHeld, StalePlan, UserError
from deployctl.execute.runner import Options
from deployctl.state.api import RunInfo
from deployctl.state.sqlite import SqliteStore
from deployctl.testing.plans import Recorder, make_plan, step

PLAN = make_plan(
    step("a"),
    step("ok", "approval", deps=("a",), params={"reason": "prod"}),
    step("b", deps=("ok",)),
)


def test_an_approval_pauses_the_run_with_exit_6_and_says_how_to_approve(make_executor, world):
    executor = make_executor()
    outcome = executor.apply(PLAN)
    assert outcome.exit_code == 6
    assert outcome.status == "waiting"
    assert f"deployctl approve {outcome.run_id} ok" in "\n".join(map(str, outcome.left))
    assert world.ops("apply") == ["a"]
    (run,) = executor.journal.runs()
    assert run.status == "waiting"


def test_an_approval_journals_its_reason_or_else_its_description(make_executor):
    waiting = {}
    for project, approval in [
        ("given", step("ok", "approval", params={"reason": "prod"})),
        ("bare", step("ok", "approval", description="Ship it?")),
    ]:
        executor = make_executor()
        run_id = executor.apply(make_plan(approval, project=project)).run_id
        [record] = [r for r in executor.journal.records(run_id) if r.type == "waiting"]
        waiting[project] = record.data
    assert waiting == {"given": {"reason": "prod"}, "bare": {"reason": "Ship it?"}}


def test_apply_again_without_approval_still_waits(make_executor, world):
    first = make_executor().apply(PLAN)
    second = make_executor().apply(PLAN)
    assert (second.exit_code, second.run_id) == (6, first.run_id)
    assert world.ops("apply") == ["a"]


def test_approve_then_resume_goes_on_and_records_who(make_executor, world):
    run_id = make_executor().apply(PLAN).run_id
    executor = make_executor(user="alice@ci")
    assert executor.approve(run_id, "ok") == ["ok"]
    assert make_executor().resume(run_id).exit_code == 0
    assert world.ops("apply") == ["a", "b"]
    approved = [r for r in executor.journal.records(run_id) if r.type == "approved"]
    assert approved[0].data["by"] == "alice@ci"


class _ApprovedMeanwhile(Recorder):
    """Someone approves from another terminal the moment this process
    starts the run: after it read the journal, before it shows the history."""

    def __init__(self, approve: Callable[[], object]) -> None:
        super().__init__()
        self.approve = approve
        self.history_types: list[str] = []

    def run_started(self, run: RunInfo, plan: Plan, resumed: bool) -> None:
        self.approve()

    def history(self, records: Sequence[Record]) -> None:
        self.history_types += [r.type for r in records]


def test_an_approval_landing_while_a_run_resumes_is_in_its_state_and_history_alike(
    make_executor, world
):
    run_id = make_executor().apply(PLAN).run_id
    other = make_executor(user="bob@ci")
    reporter = _ApprovedMeanwhile(lambda: other.approve(run_id, "ok"))
    outcome = make_executor(reporter=reporter).apply(PLAN)
    # The history shown is what the run's state was folded from: it did not
    # show an approval and then wait for one.  This process read before the
    # approval landed, so it waits, and the next apply goes on.
    assert "approved" not in reporter.history_types
    assert (outcome.status, world.ops("apply")) == ("waiting", ["a"])
    assert make_executor().apply(PLAN).exit_code == 0
    assert world.ops("apply") == ["a", "b"]


def test_approve_refuses_a_step_that_is_not_an_approval(make_executor):
    run_id = make_executor().apply(PLAN).run_id
    with pytest.raises(UserError, match="neither an approval nor waiting"):
        make_executor().approve(run_id, "a")
    with pytest.raises(UserError, match="no step"):
        make_executor().approve(run_id, "nope")


def test_auto_approve_runs_unattended_and_journals_the_approval(make_executor, world):
    executor = make_executor()
    outcome = executor.apply(PLAN, Options(auto_approve=True))
    assert outcome.exit_code == 0
    assert world.ops("apply") == ["a", "b"]
    records = executor.journal.records(outcome.run_id)
    assert [r.data.get("auto") for r in records if r.type == "approved"] == [True]


def test_a_second_apply_while_the_lock_is_live_exits_4_naming_the_holder(
    make_executor, tmp_path, world
):
    state = str(tmp_path / "state")
    holder = SqliteStore(state).lock("demo/prod", "bob@runner-7", 4242)
    holder.acquire("20240101-000000-abcdef")
    with pytest.raises(LockHeld) as caught:
        make_executor().apply(PLAN)
    assert caught.value.exit_code == 4
    message = str(caught.value)
    assert "bob@runner-7" in message and "pid 4242" in message
    assert "20240101-000000-abcdef" in message and "deployctl unlock demo/prod" in message
    assert world.log == []


def test_an_expired_lease_is_taken_over(make_executor, tmp_path, world):
    state = str(tmp_path / "state")
    now = [1_000.0]
    dead = SqliteStore(state).lock("demo/prod", "bob@gone", 1, lease=60, now=lambda: now[0])
    dead.acquire("old-run")
    executor = make_executor(wall=lambda: 1_061.0)
    outcome = executor.apply(make_plan(step("a")))
    assert outcome.exit_code == 0
    assert any(
        "took over expired lock" in m and "bob@gone" in m
        for m in executor.reporter.reporters[0].messages
    )
    assert SqliteStore(state).locks() == []  # released at the end


def test_a_changed_plan_refuses_to_resume_unless_abandoned(make_executor, world):
    first = make_executor().apply(PLAN)
    changed = make_plan(
        step("a"),
        step("ok", "approval", deps=("a",), params={"reason": "x"}),
        step("b", deps=("ok",)),
        step("c", deps=("b",)),
    )
    with pytest.raises(StalePlan, match="--abandon") as caught:
        make_executor().apply(changed)
    assert caught.value.exit_code == 5
    assert caught.value.run_id == first.run_id
    outcome = make_executor().apply(changed, Options(abandon=True, auto_approve=True))
    assert outcome.exit_code == 0
    assert outcome.run_id != first.run_id
    executor = make_executor()
    assert executor.journal.get_run(first.run_id).status == "abandoned"


def _abandon_cut_before_its_status(make_executor) -> str:
    """A paused run whose abandoning process died between its run_finished
    record and the status: listed as waiting, abandoned in its journal."""
    first = make_executor().apply(PLAN)
    assert first.status == "waiting"
    executor = make_executor()
    executor.journal.append(first.run_id, "run_finished", data={"status": "abandoned", "by": "x"})
    assert executor.journal.get_run(first.run_id).status == "waiting"
    return first.run_id


def test_an_abandon_cut_before_its_status_is_still_an_abandon_for_apply(make_executor, world):
    # The journal wins: the next apply starts a new run instead of carrying
    # on with the abandoned one, and the listing is put right.
    abandoned = _abandon_cut_before_its_status(make_executor)
    again = make_executor()
    outcome = again.apply(PLAN, Options(auto_approve=True))
    assert outcome.exit_code == 0 and outcome.run_id != abandoned
    assert again.journal.get_run(abandoned).status == "abandoned"
    assert [r.type for r in again.journal.records(abandoned)].count("run_finished") == 1


def test_an_abandon_cut_before_its_status_is_still_an_abandon_for_resume(make_executor, world):
    abandoned = _abandon_cut_before_its_status(make_executor)
    executor = make_executor()
    with pytest.raises(UserError, match=f"run {abandoned} is abandoned"):
        executor.resume(abandoned, Options(auto_approve=True))
    assert executor.journal.get_run(abandoned).status == "abandoned"
    assert [r.type for r in executor.journal.records(abandoned)][-1] == "run_finished"


def test_runs_of_other_environments_do_not_block_each_other(make_executor, world):
    make_executor().apply(PLAN)
    staging = make_plan(*PLAN.steps, environment="staging")
    assert make_executor().apply(staging, Options(auto_approve=True)).exit_code == 0


def test_a_lock_whose_holder_died_on_this_host_is_taken_over(make_executor, tmp_path):
    import socket
    import subprocess
    import sys

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(gone.stdout)
    dead = SqliteStore(str(tmp_path / "state")).lock("demo/prod", f"ci@{socket.gethostname()}", pid)
    dead.acquire("killed-run")
    assert make_executor().apply(make_plan(step("a"))).exit_code == 0


def test_a_plan_of_several_projects_locks_each_and_frees_them_all(make_executor, tmp_path, world):
    import dataclasses

    state = str(tmp_path / "state")
    plan = dataclasses.replace(make_plan(step("a")), scopes=(("demo", "prod"), ("zeta", "prod")))
    holder = SqliteStore(state).lock("zeta/prod", "bob@runner-7", 4242)
    holder.acquire("other-run")
    with pytest.raises(LockHeld, match="zeta/prod"):
        make_executor().apply(plan)
    assert world.log == []
    assert [i.lock_id for i in SqliteStore(state).locks()] == [
        "zeta/prod"
    ]  # demo/prod, taken first, freed
    holder.release()
    assert make_executor().apply(plan).exit_code == 0
    assert SqliteStore(state).locks() == []
