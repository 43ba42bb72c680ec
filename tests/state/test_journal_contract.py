"""The journal contract, on every backend (``store`` is parametrized)."""

from __future__ import annotations

import threading

import pytest
from state_helpers import PLAN, STORED, make_plan, step

from deployctl.errors import LockLost, UserError
from deployctl.state.api import Record, StateStore


def test_a_run_is_created_found_listed_and_keeps_its_plan(store: StateStore) -> None:
    journal = store.journal(now=lambda: 1_700_000_000.0)
    run = journal.create_run(PLAN, "ci@runner-1", STORED)
    assert journal.get_run(run.run_id) == run
    assert (run.status, run.digest, run.user) == ("running", PLAN.digest, "ci@runner-1")
    assert journal.plan_json(run.run_id) == STORED
    other = store.journal()  # another process's view
    assert other.get_run(run.run_id) == run
    assert other.runs() == [run] == other.runs("demo", "prod")
    assert other.runs("demo", "staging") == [] and other.runs("other") == []


def test_runs_are_listed_newest_first_across_projects_and_environments(store: StateStore) -> None:
    now = [1_700_000_000.0]
    journal = store.journal(now=lambda: now[0])
    made = []
    for project, environment in [("demo", "prod"), ("demo", "staging"), ("web", "prod")] * 2:
        now[0] += 10
        plan = make_plan(step("a"), project=project, environment=environment)
        made.append(journal.create_run(plan, "me@here", plan.to_json(with_summary=False)))
    assert [r.run_id for r in journal.runs()] == [r.run_id for r in reversed(made)]
    assert [r.run_id for r in journal.runs("demo")] == [
        made[4].run_id,
        made[3].run_id,
        made[1].run_id,
        made[0].run_id,
    ]
    assert [r.run_id for r in journal.runs("web", "prod")] == [made[5].run_id, made[2].run_id]


def test_set_status_changes_the_run_and_its_update_time(store: StateStore) -> None:
    now = [100.0]
    journal = store.journal(now=lambda: now[0])
    run = journal.create_run(PLAN, "me@here", STORED)
    now[0] = 250.0
    store.journal(now=lambda: now[0]).set_status(run.run_id, "waiting")
    got = journal.get_run(run.run_id)
    assert (got.status, got.created, got.updated) == ("waiting", 100.0, 250.0)
    now[0] = 300.0
    journal.set_status(run.run_id, "succeeded", durable=False)  # decided by a durable record
    got = store.journal().get_run(run.run_id)
    assert (got.status, got.updated) == ("succeeded", 300.0)


def test_unknown_runs_are_a_user_error_naming_the_store(store: StateStore) -> None:
    journal = store.journal()
    for call in (
        journal.get_run,
        journal.plan_json,
        lambda r: journal.set_status(r, "x"),
        lambda r: journal.set_status(r, "x", durable=False),
    ):
        with pytest.raises(UserError, match=f"no run 'nope' in {store.name}"):
            call("nope")


def test_records_come_back_whole_and_in_seq_order(store: StateStore) -> None:
    journal = store.journal(now=lambda: 5.0)
    run = journal.create_run(PLAN, "me@here", STORED)
    written = [
        journal.append(
            run.run_id,
            "done",
            step_id=f"s{i}",
            attempt=1,
            token=f"t{i}",
            data={"n": i, "nested": {"x": [1, 2]}},
        )
        for i in range(40)
    ]
    assert [r.seq for r in written] == sorted({r.seq for r in written})
    assert written[0] == Record(
        written[0].seq, run.run_id, "done", "s0", 1, "t0", 5.0, {"n": 0, "nested": {"x": [1, 2]}}
    )
    # (DynamoDB: six query pages of 7), read by a journal that never wrote them.
    assert store.journal().records(run.run_id) == written
    assert journal.records("other-run") == []


def test_appends_from_many_threads_get_distinct_increasing_seqs(store: StateStore) -> None:
    journal = store.journal()
    run = journal.create_run(PLAN, "me@here", STORED)
    got: list[Record] = []
    mutex = threading.Lock()

    def worker(n: int) -> None:
        for i in range(10):
            record = journal.append(run.run_id, "check", step_id=f"w{n}", data={"i": i})
            with mutex:
                got.append(record)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.seq for r in got}) == 80
    stored = journal.records(run.run_id)
    assert [r.seq for r in stored] == sorted(r.seq for r in got)
    for n in range(8):  # one thread's records keep its order
        assert [r.data["i"] for r in stored if r.step_id == f"w{n}"] == list(range(10))


def test_a_second_process_continues_where_the_first_stopped(store: StateStore) -> None:
    first = store.journal()
    run = first.create_run(PLAN, "me@here", STORED)
    first.append(run.run_id, "intent", step_id="a")
    last = first.append(run.run_id, "done", step_id="a")
    assert store.journal().append(run.run_id, "resumed").seq > last.seq


def test_a_fenced_journal_writes_while_its_lock_is_held(store: StateStore) -> None:
    lock = store.lock("demo/prod", "me@here", 1)
    lock.acquire()
    journal = store.journal()
    journal.hold(lock.fence)
    run = journal.create_run(PLAN, "me@here", STORED)
    journal.append(run.run_id, "intent", step_id="a")
    journal.set_status(run.run_id, "waiting")
    assert [r.type for r in store.journal().records(run.run_id)] == ["intent"]
    assert store.journal().get_run(run.run_id).status == "waiting"


def test_after_a_takeover_the_old_holder_writes_nothing(store: StateStore) -> None:
    now = [1_000.0]
    old = store.lock("demo/prod", "bob@paused", 1, lease=60, now=lambda: now[0])
    old.acquire()
    journal = store.journal()
    journal.hold(old.fence)
    run = journal.create_run(PLAN, "bob@paused", STORED)
    journal.append(run.run_id, "intent", step_id="a")
    now[0] = 1_061.0  # bob was paused past his lease; amy takes over and goes on
    new = store.lock("demo/prod", "amy@here", 2, lease=60, now=lambda: now[0])
    new.acquire(run.run_id)
    assert new.fence is not None and old.fence is not None
    assert new.fence.epoch == old.fence.epoch + 1
    theirs = store.journal()
    theirs.hold(new.fence)
    theirs.append(run.run_id, "done", step_id="a")
    for write in (
        lambda: journal.append(run.run_id, "done", step_id="a"),
        lambda: journal.set_status(run.run_id, "succeeded"),
        lambda: journal.create_run(PLAN, "bob@paused", STORED),
    ):
        with pytest.raises(
            LockLost, match=r"no longer held by bob@paused .*now demo/prod: amy@here"
        ):
            write()
    assert [r.type for r in theirs.records(run.run_id)] == ["intent", "done"]
    assert theirs.get_run(run.run_id).status == "running"
    assert [r.run_id for r in theirs.runs()] == [run.run_id]


def test_an_unlock_by_hand_stops_the_holders_writes(store: StateStore) -> None:
    lock = store.lock("demo/prod", "me@here", 1)
    lock.acquire()
    journal = store.journal()
    journal.hold(lock.fence)
    run = journal.create_run(PLAN, "me@here", STORED)
    store.unlock("demo/prod")
    with pytest.raises(LockLost, match="now free"):
        journal.append(run.run_id, "intent", step_id="a")
    assert store.journal().records(run.run_id) == []


def test_a_writer_without_the_lock_never_overwrites_the_holders_records(store: StateStore) -> None:
    """``deployctl approve`` writes without the lock while the run goes on."""
    lock = store.lock("demo/prod", "me@here", 1)
    lock.acquire()
    holder = store.journal()
    holder.hold(lock.fence)
    run = holder.create_run(PLAN, "me@here", STORED)
    holder.append(run.run_id, "intent", step_id="a")
    store.journal().append(run.run_id, "approved", step_id="ok", data={"by": "amy"})
    holder.append(run.run_id, "done", step_id="a")
    records = store.journal().records(run.run_id)
    assert [(r.type, r.step_id) for r in records] == [
        ("intent", "a"),
        ("approved", "ok"),
        ("done", "a"),
    ]
    assert len({r.seq for r in records}) == 3
