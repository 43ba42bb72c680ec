"""The shared state store on DynamoDB (in-process moto): the journal contract,
the lock, and runs resumed from another machine's working directory."""

from __future__ import annotations

import random
import string
import threading
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from deployctl.actions.aws import Clients
from deployctl.actions.dynamo_state import DynamoStore
from deployctl.actions.registry import Backend
from deployctl.errors import JournalConflict, LockHeld, LockLost, UserError
from deployctl.execute.api import Record, Reporter
from deployctl.execute.runner import Executor, Options
from deployctl.execute.store import SqliteStore, open_store
from deployctl.testing.clock import VirtualClock
from deployctl.testing.fake import FakeMetrics, FakeWorld, fake_registry
from deployctl.testing.plans import Recorder, make_plan, step

TABLE = "deployctl-state"


def create_table(session: boto3.Session, name: str = TABLE) -> None:
    """The table as docs/cli.md section 18 creates it."""
    session.client("dynamodb").create_table(
        TableName=name,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture
def session() -> Iterator[boto3.Session]:
    with mock_aws():
        made = boto3.Session(region_name="us-east-1")
        create_table(made)
        yield made


@pytest.fixture
def store(session: boto3.Session) -> DynamoStore:
    return DynamoStore(TABLE, clients=Clients(session=session), page_size=7)


PLAN = make_plan(step("a"), step("b", deps=("a",)), step("c", deps=("b",)))


# -- the journal contract ------------------------------------------------------------


def test_a_run_is_created_found_listed_and_keeps_its_plan(store):
    journal = store.journal(now=lambda: 1_700_000_000.0)
    run = journal.create_run(PLAN, "ci@runner-1")
    assert journal.get_run(run.run_id) == run
    assert run.status == "running" and run.digest == PLAN.digest
    assert journal.plan_json(run.run_id) == PLAN.to_json(with_summary=False)
    # Another process (a fresh journal) sees the same.
    other = store.journal()
    assert other.get_run(run.run_id) == run
    assert other.runs() == [run] == other.runs("demo", "prod")
    assert other.runs("demo", "staging") == [] and other.runs("other") == []


def test_runs_are_listed_newest_first_across_projects_and_environments(store):
    now = [1_700_000_000.0]
    journal = store.journal(now=lambda: now[0])
    made = []
    for project, environment in [("demo", "prod"), ("demo", "staging"), ("web", "prod")] * 2:
        now[0] += 10
        made.append(
            journal.create_run(
                make_plan(step("a"), project=project, environment=environment), "me@here"
            )
        )
    assert [r.run_id for r in journal.runs()] == [r.run_id for r in reversed(made)]
    assert [r.run_id for r in journal.runs("demo")] == [
        made[4].run_id,
        made[3].run_id,
        made[1].run_id,
        made[0].run_id,
    ]
    assert [r.run_id for r in journal.runs("web", "prod")] == [made[5].run_id, made[2].run_id]


def test_set_status_changes_the_run_and_its_update_time(store):
    now = [100.0]
    journal = store.journal(now=lambda: now[0])
    run = journal.create_run(PLAN, "me@here")
    now[0] = 250.0
    store.journal(now=lambda: now[0]).set_status(run.run_id, "waiting")
    got = journal.get_run(run.run_id)
    assert (got.status, got.created, got.updated) == ("waiting", 100.0, 250.0)


def test_unknown_runs_are_a_user_error(store):
    journal = store.journal()
    for call in (journal.get_run, journal.plan_json, lambda r: journal.set_status(r, "x")):
        with pytest.raises(UserError, match="no run 'nope' in dynamodb://deployctl-state"):
            call("nope")


def test_records_come_back_in_seq_order_through_many_query_pages(store):
    journal = store.journal(now=lambda: 5.0)
    run = journal.create_run(PLAN, "me@here")
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
    assert [r.seq for r in written] == list(range(1, 41))
    # page_size 7: six pages, read by a journal that never wrote them.
    assert store.journal().records(run.run_id) == written
    assert journal.records("other-run") == []


def test_records_past_one_megabyte_page_through_and_large_data_is_compressed(store, session):
    journal = store.journal()
    run = journal.create_run(PLAN, "me@here")
    rng = random.Random(7)
    # Incompressible, so the items stay big: 20 x 150 KB is three 1 MB query pages.
    blobs = ["".join(rng.choices(string.ascii_letters, k=150_000)) for _ in range(20)]
    for i, blob in enumerate(blobs):
        journal.append(run.run_id, "done", step_id=f"s{i}", data={"blob": blob})
    unpaged = DynamoStore(TABLE, clients=Clients(session=session))  # DynamoDB's own pages
    got = unpaged.journal().records(run.run_id)
    assert [r.data["blob"] for r in got] == blobs


def test_a_plan_over_the_item_limit_is_stored_in_pieces(store):
    rng = random.Random(3)
    big = make_plan(
        *(
            step(f"s{i}", params={"note": "".join(rng.choices(string.ascii_letters, k=1_000))})
            for i in range(1_000)
        )
    )
    journal = store.journal()
    run = journal.create_run(big, "me@here")
    assert store.journal().plan_json(run.run_id) == big.to_json(with_summary=False)
    pieces = store.table.client.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
        ExpressionAttributeValues={":pk": {"S": f"run#{run.run_id}"}, ":p": {"S": "plan#"}},
    )["Items"]
    assert len(pieces) >= 3


def test_appends_from_many_threads_get_distinct_increasing_seqs(store):
    journal = store.journal()
    run = journal.create_run(PLAN, "me@here")
    got: list[Record] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        for i in range(10):
            record = journal.append(run.run_id, "check", step_id=f"w{n}", data={"i": i})
            with lock:
                got.append(record)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.seq for r in got) == list(range(1, 81))
    stored = journal.records(run.run_id)
    assert [r.seq for r in stored] == list(range(1, 81))
    for n in range(8):  # one thread's records keep its order
        assert [r.data["i"] for r in stored if r.step_id == f"w{n}"] == list(range(10))


def test_a_second_process_continues_the_seq_where_the_first_stopped(store):
    first = store.journal()
    run = first.create_run(PLAN, "me@here")
    first.append(run.run_id, "intent", step_id="a")
    first.append(run.run_id, "done", step_id="a")
    assert store.journal().append(run.run_id, "resumed").seq == 3


def test_two_writers_on_one_run_raise_instead_of_overwriting(store):
    first = store.journal()
    run = first.create_run(PLAN, "me@here")
    first.append(run.run_id, "intent", step_id="a")
    second = store.journal()
    assert second.append(run.run_id, "resumed").seq == 2
    with pytest.raises(JournalConflict, match="two processes are running this run"):
        first.append(run.run_id, "done", step_id="a")
    assert [r.type for r in second.records(run.run_id)] == ["intent", "resumed"]


def test_a_missing_table_says_how_to_create_it(session):
    journal = DynamoStore("nope", clients=Clients(session=session)).journal()
    with pytest.raises(UserError, match=r"dynamodb://nope: no such DynamoDB table in us-east-1"):
        journal.runs()


def test_the_spec_picks_the_backend_and_its_region():
    assert isinstance(open_store(".deployctl"), SqliteStore)
    with mock_aws():
        store = open_store("dynamodb://t?region=eu-west-1", region="us-east-1")
        assert isinstance(store, DynamoStore) and store.name == "dynamodb://t"
        assert store.table.region == "eu-west-1"
        assert open_store("dynamodb://t", region="us-west-2").table.region == "us-west-2"
    for bad in ("dynamodb://", "dynamodb://t/x", "dynamodb://t?zone=a"):
        with pytest.raises(UserError, match="expected dynamodb://TABLE"):
            open_store(bad)


# -- the lock ----------------------------------------------------------------------------


def test_a_live_lock_refuses_a_second_holder_with_exit_4_naming_it(store):
    store.lock("demo/prod", "bob@runner-7", 4242, now=lambda: 1_000.0).acquire("run-1")
    with pytest.raises(LockHeld) as caught:
        store.lock("demo/prod", "amy@runner-8", 7, now=lambda: 1_060.0).acquire()
    assert caught.value.exit_code == 4
    assert str(caught.value) == (
        "lock demo/prod is held by bob@runner-7 (pid 4242) for run run-1 since "
        "1970-01-01T00:16:40Z, lease until 1970-01-01T00:18:40Z; wait for it, or if that "
        "run is dead: deployctl unlock demo/prod"
    )


def test_an_expired_lease_is_taken_over_and_the_old_holder_is_remembered(store):
    now = [1_000.0]
    old = store.lock("demo/prod", "bob@gone", 1, lease=60, now=lambda: now[0])
    old.acquire("old-run")
    now[0] = 1_061.0
    new = store.lock("demo/prod", "amy@here", 2, lease=60, now=lambda: now[0])
    new.acquire()
    assert new.taken_over is not None and new.taken_over.holder == "bob@gone"
    assert [lock.holder for lock in store.locks()] == ["amy@here"]
    # The old holder finds out at its next renewal and stops; its release frees nothing.
    with pytest.raises(LockLost, match="no longer held by bob@gone") as caught:
        old.renew(force=True)
    assert caught.value.exit_code == 4
    with pytest.raises(LockLost):
        old.set_run("old-run")
    old.release()
    assert [lock.holder for lock in store.locks()] == ["amy@here"]
    new.release()
    assert store.locks() == []


def test_the_lease_is_renewed_at_most_every_quarter_lease(store):
    now = [0.0]
    lock = store.lock("p/e", "me@here", 1, lease=100, now=lambda: now[0])
    lock.acquire("r")
    now[0] = 10.0
    lock.renew()
    assert store.locks()[0].lease_until == 100.0
    now[0] = 30.0
    lock.renew()
    assert store.locks()[0].lease_until == 130.0
    lock.set_run("r2")
    assert store.locks()[0].run_id == "r2"


def test_a_dead_pid_is_taken_over_only_on_the_same_host(store):
    import socket
    import subprocess
    import sys

    pid = int(
        subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    elsewhere = store.lock("a/e", f"ci@{socket.gethostname()}", pid)
    elsewhere.host = "another-machine"
    elsewhere.acquire("r")
    with pytest.raises(LockHeld):
        store.lock("a/e", "me@here", 2).acquire()
    store.lock("b/e", f"ci@{socket.gethostname()}", pid).acquire("r")
    taker = store.lock("b/e", "me@here", 2)
    taker.acquire()
    assert taker.taken_over is not None and taker.taken_over.pid == pid


def test_unlock_frees_a_lock_by_hand(store):
    store.lock("p/e", "me@here", 1).acquire("r1")
    assert store.unlock("p/e").holder == "me@here"
    assert store.locks() == []
    with pytest.raises(UserError, match=r"no lock 'p/e' \(held locks: none\)"):
        store.unlock("p/e")


# -- the executor on a shared table ------------------------------------------------------


class DieAfter(Reporter):
    """The process 'dies' after the k-th durable record: nothing more is written."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.seen = 0

    def record(self, record: Record) -> None:
        self.seen += 1
        if self.seen == self.count:
            raise SystemExit("killed")


def executor_on(
    store: DynamoStore, workdir: Path, world: FakeWorld, clock: VirtualClock, **kw: object
) -> Executor:
    backend = Backend(fake_registry(world), clock, FakeMetrics(world))
    return Executor(str(workdir), backend, Recorder(), store=store, **kw)  # type: ignore[arg-type]


def test_a_run_cut_off_on_one_machine_is_resumed_from_another_with_nothing_repeated(
    store, tmp_path
):
    world, clock = FakeWorld(str(tmp_path / "world.json")), VirtualClock()
    dying = executor_on(store, tmp_path / "machine-1", world, clock)
    dying.reporter = type(dying.reporter)([*dying.reporter.reporters, DieAfter(6)])
    with pytest.raises(SystemExit):
        dying.apply(PLAN)
    assert world.ops("apply") == ["a", "b"]
    second = executor_on(store, tmp_path / "machine-2", world, clock)
    outcome = second.apply(PLAN)
    assert outcome.exit_code == 0
    assert world.ops("apply") == ["a", "b", "c"]
    types = [r.type for r in second.journal.records(outcome.run_id)]
    assert types.count("run_started") == 1 and types.count("resumed") == 1
    assert store.locks() == []
    assert not (tmp_path / "machine-1").exists() and not (tmp_path / "machine-2").exists()
    assert [r.run_id for r in store.journal().runs()] == [outcome.run_id]


def test_a_second_executor_on_the_same_table_gets_exit_4(store, tmp_path):
    world, clock = FakeWorld(str(tmp_path / "world.json")), VirtualClock()
    holder = store.lock("demo/prod", "bob@runner-7", 4242)
    holder.acquire("20240101-000000-abcdef")
    with pytest.raises(LockHeld, match="bob@runner-7 \\(pid 4242\\)") as caught:
        executor_on(store, tmp_path / "m", world, clock).apply(PLAN)
    assert caught.value.exit_code == 4
    assert world.log == []


def test_an_approval_pause_is_approved_and_resumed_through_the_table(store, tmp_path):
    world, clock = FakeWorld(str(tmp_path / "world.json")), VirtualClock()
    plan = make_plan(
        step("a"),
        step("ok", "approval", deps=("a",), params={"reason": "x"}),
        step("b", deps=("ok",)),
    )
    first = executor_on(store, tmp_path / "m1", world, clock).apply(plan)
    assert first.exit_code == 6
    assert executor_on(store, tmp_path / "m2", world, clock).approve(first.run_id) == ["ok"]
    resumed = executor_on(store, tmp_path / "m3", world, clock).resume(first.run_id, Options())
    assert resumed.exit_code == 0
    assert world.ops("apply") == ["a", "b"]
