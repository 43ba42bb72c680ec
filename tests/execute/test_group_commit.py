"""The critical path's commits: a step's done record shares one commit (one
fsync) with the intent of a dependent it releases, and the journal's order
holds: the done record comes first, and nothing of a dependent is sent
before its intent, committed with or after that record, is durable."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from deployctl.actions.registry import Backend
from deployctl.core.ports import Action, Observation, Registry, Reporter, StepRequest
from deployctl.core.records import Record
from deployctl.execute import context
from deployctl.execute.context import RunContext
from deployctl.execute.runner import Executor
from deployctl.execute.state import fold
from deployctl.state.sqlite import SqliteJournal, SqliteStore
from deployctl.testing.clock import VirtualClock
from deployctl.testing.fake import FakeMetrics, FakeWorld, fake_registry
from deployctl.testing.journal import written
from deployctl.testing.plans import Recorder, make_plan, step

CHAIN = make_plan(step("a"), step("b", deps=("a",)), step("c", deps=("b",)))


class Commits(sqlite3.Connection):
    """The run's writes in order: the journal records each statement (one
    transaction) wrote, or the statement itself for any other write."""

    batches: ClassVar[list[list[tuple[str, str | None]]]] = []
    writes: ClassVar[list[object]] = []

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        if records := written(sql, args):
            Commits.batches.append(records)
            Commits.writes.append(records)
        elif not sql.startswith(("SELECT", "PRAGMA wal", "PRAGMA cache", "PRAGMA page")):
            Commits.writes.append(sql.split(" WHERE", maxsplit=1)[0])
        return super().execute(sql, *args)


class Sent(Reporter):
    """Which steps the fake world had applied when each record was reported."""

    def __init__(self, world: FakeWorld) -> None:
        self.world = world
        self.seen: list[tuple[str, str | None, tuple[str, ...]]] = []

    def record(self, record: Record) -> None:
        self.seen.append((record.type, record.step_id, tuple(self.world.ops("apply"))))


def test_a_done_record_and_the_next_intent_share_one_commit_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bound, not a wait: the done record commits as soon as the next intent
    # joins it; the leaf (c) releases no one and commits at once.  Generous so
    # a loaded machine cannot split the pair.
    monkeypatch.setattr(context, "DEFER_GRACE", 10.0)
    batches, sent = _commits(tmp_path, CHAIN)
    assert sent.world.ops("apply") == ["a", "b", "c"]
    assert [("done", "a"), ("intent", "b")] in batches
    assert [("done", "b"), ("intent", "c")] in batches
    # Reported in commit order, and b was not sent before its intent (and
    # a's done) were durable.
    order = [(t, s) for t, s, _ in sent.seen if s]
    assert order.index(("done", "a")) < order.index(("intent", "b"))
    assert ("intent", "b", ("a",)) in sent.seen
    assert ("intent", "c", ("a", "b")) in sent.seen


def _commits(
    tmp_path: Path, plan: Any, watch: type[Sent] = Sent
) -> tuple[list[list[tuple[str, str | None]]], Sent]:
    world, state = FakeWorld(str(tmp_path / "w.json")), tmp_path / "state"
    sent = watch(world)
    backend = Backend(fake_registry(world), VirtualClock(), FakeMetrics(world), (sent,))
    Commits.batches, Commits.writes = [], []
    ex = Executor(str(state), backend, Recorder(), store=SqliteStore(str(state), Commits))
    try:
        assert ex.apply(plan).exit_code == 0
    finally:
        ex.close()
    return [b for b in Commits.batches if b], sent


def test_a_done_record_commits_with_a_dependent_s_intent_and_before_every_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bound, not a wait (see above).  The commit does not wait for the
    # second dependent: its intent shares the commit if it was queued by
    # then, otherwise it commits next; either way after a's done record.
    monkeypatch.setattr(context, "DEFER_GRACE", 10.0)
    fan = make_plan(step("a"), step("b", deps=("a",)), step("c", deps=("a",)))
    batches, sent = _commits(tmp_path, fan)
    at = {rec: n for n, batch in enumerate(batches) for rec in batch}
    shared = batches[at["done", "a"]]
    assert shared[0] == ("done", "a")
    assert {("intent", "b"), ("intent", "c")} & set(shared[1:])
    assert at["intent", "b"] >= at["done", "a"] and at["intent", "c"] >= at["done", "a"]
    for sid in "bc":  # neither was sent before its intent was durable
        [applied] = [ops for t, s, ops in sent.seen if (t, s) == ("intent", sid)]
        assert "a" in applied and sid not in applied


def test_a_new_run_s_first_record_commits_with_the_first_intent(tmp_path: Path) -> None:
    batches, sent = _commits(tmp_path, make_plan(step("a"), step("b")))
    first = batches[0]
    assert first[0] == ("run_started", None)
    assert {("intent", "a"), ("intent", "b")} & set(first[1:])
    # Reported first, and nothing was sent before that commit.
    assert sent.seen[0] == ("run_started", None, ())


class Meanwhile(sqlite3.Connection):
    """Runs ``hook`` once, while the transaction that writes step a's record is open."""

    hook: ClassVar[Callable[[], None] | None] = None

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        if Meanwhile.hook and any(sid == "a" for _, sid in written(sql, args)):
            hook, Meanwhile.hook = Meanwhile.hook, None
            hook()
        return super().execute(sql, *args)


def test_settling_a_deferred_record_waits_for_none_queued_after_it(tmp_path: Path) -> None:
    # b's done record is queued while a's commit is under way, so it is not
    # in that commit.  Settling a returns once a is durable and reported: it
    # neither waits for b nor commits it (b's own settle or the next write does).
    journal = SqliteStore(str(tmp_path), Meanwhile).journal()
    plan = make_plan(step("a"), step("b"))
    rec = Recorder()
    ctx = RunContext(
        plan=plan,
        run=journal.create_run(plan, "me@here", {}),
        journal=journal,
        registry=Registry(),
        clock=VirtualClock(),
        reporter=rec,
        state=fold(plan.by_id, []),
    )
    later: list[Callable[[bool], Record]] = []
    Meanwhile.hook = lambda: later.append(ctx.write_deferred("done", "b", data={}))
    try:
        settle_a = ctx.write_deferred("done", "a", data={})
        assert settle_a(False).step_id == "a"
        assert rec.records == [("done", "a")]
        assert [r.step_id for r in journal.records(ctx.run.run_id)] == ["a"]
        ctx.flush()
        assert rec.records == [("done", "a"), ("done", "b")]
    finally:
        Meanwhile.hook = None
        journal.close()


class Ends(Sent):
    """Sent, and when each step's end was reported among the records."""

    def step_finished(self, step: Any, result: Any) -> None:
        self.seen.append(("finished", step.id, tuple(self.world.ops("apply"))))


def test_the_walk_s_last_done_record_commits_with_run_finished_and_its_end_is_reported_then(
    tmp_path: Path,
) -> None:
    batches, ends = _commits(tmp_path, CHAIN, Ends)
    assert batches[-1] == [("done", "c"), ("run_finished", None)]
    order = [(kind, sid) for kind, sid, _ in ends.seen]
    assert order[-3:] == [("done", "c"), ("finished", "c"), ("run_finished", None)]


def test_steps_side_by_side_each_commit_and_report_their_end_once(tmp_path: Path) -> None:
    # a and b run side by side: at most the one that ends last (when the
    # other is no longer in flight) holds its done record for run_finished.
    batches, ends = _commits(tmp_path, make_plan(step("a"), step("b")), Ends)
    records = [r for b in batches for r in b]
    assert sorted(sid for kind, sid in records if kind == "done") == ["a", "b"]
    assert batches[-1][-1] == ("run_finished", None) and len(batches[-1]) <= 2
    order = [(kind, sid) for kind, sid, _ in ends.seen]
    for sid in "ab":
        assert order.count(("finished", sid)) == 1
        assert order.index(("done", sid)) < order.index(("finished", sid))


def test_a_succeeded_run_s_status_follows_its_durable_run_finished_unsynced(
    tmp_path: Path,
) -> None:
    _commits(tmp_path, CHAIN)
    end = Commits.writes.index([("done", "c"), ("run_finished", None)])
    assert Commits.writes[end + 1 : end + 4] == [
        "PRAGMA synchronous = NORMAL",
        "UPDATE runs SET status = ?, updated = ?",
        "PRAGMA synchronous = FULL",
    ]
    # Every other write of the run is synced: no other change of mode.
    assert Commits.writes.count("PRAGMA synchronous = NORMAL") == 1


class HeldCommit(sqlite3.Connection):
    """Runs ``hook`` once, inside the statement that commits step a's done record."""

    hook: ClassVar[Callable[[], None] | None] = None

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        if HeldCommit.hook and ("done", "a") in written(sql, args):
            hook, HeldCommit.hook = HeldCommit.hook, None
            hook()
        return super().execute(sql, *args)


class Joins(Action):
    """Which thread applied each step.  a's call returns once b's has begun
    (so a's done record commits without b's intent), b's once a's done
    record is being committed."""

    def __init__(self) -> None:
        self.threads: dict[str, int] = {}
        self.b_called = threading.Event()
        self.a_committing = threading.Event()

    def observe(self, request: StepRequest) -> Observation:
        return Observation(applied=False)

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        self.threads[request.step.id] = threading.get_ident()
        if request.step.id == "a":
            assert self.b_called.wait(10)
        if request.step.id == "b":
            self.b_called.set()
            assert self.a_committing.wait(10)
        return {}


def test_a_join_starts_on_its_last_dependency_s_worker_while_another_s_done_record_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a ends first and releases no one; b ends while a's done record is still
    # in its commit.  b starts the join (c) itself, at once: c's intent is
    # written without waiting for that commit and for the main loop to hear of it.
    joins, c_queued, started = Joins(), threading.Event(), []
    append = SqliteJournal.append

    def spy(self: SqliteJournal, run_id: str, type: str, **kw: Any) -> Any:
        if (type, kw.get("step_id")) == ("intent", "c"):
            c_queued.set()  # (the journal's own API: c's intent is being written)
        return append(self, run_id, type, **kw)

    monkeypatch.setattr(SqliteJournal, "append", spy)

    def hold() -> None:
        joins.a_committing.set()
        started.append(c_queued.wait(10))  # a bound: c starts within, or never did

    registry = Registry()
    registry.register("probe", joins)
    state = str(tmp_path / "state")
    plan = make_plan(step("a", "probe"), step("b", "probe"), step("c", "probe", deps=("a", "b")))
    HeldCommit.hook = hold
    ex = Executor(
        state, Backend(registry, VirtualClock()), Recorder(), store=SqliteStore(state, HeldCommit)
    )
    try:
        assert ex.apply(plan).exit_code == 0
        (run,) = ex.journal.runs()
        seq = {(r.type, r.step_id): r.seq for r in ex.journal.records(run.run_id)}
    finally:
        HeldCommit.hook = None
        ex.close()
    assert started == [True]  # c started before a's done record was durable
    assert joins.threads["c"] == joins.threads["b"]
    # The journal's order holds all the same: c's intent after both done records.
    assert seq["done", "a"] < seq["intent", "c"] and seq["done", "b"] < seq["intent", "c"]
