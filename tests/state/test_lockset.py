"""LockSet: the locks of a plan that deploys several projects, held as one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deployctl.errors import LockHeld, StateError
from deployctl.state.api import Lock
from deployctl.state.lockset import LockSet
from deployctl.state.sqlite import SqliteStore


class Clock:
    def __init__(self) -> None:
        self.wall, self.mono = 1_000.0, 50.0


def locks(store: SqliteStore, clock: Clock, holder: str, *ids: str) -> list[Lock]:
    return [
        store.lock(i, holder, 1, lease=100, now=lambda: clock.wall, monotonic=lambda: clock.mono)
        for i in ids
    ]


def held(store: SqliteStore) -> dict[str, str]:
    return {info.lock_id: info.holder for info in store.locks()}


def test_a_set_takes_its_locks_in_sorted_order_and_a_partial_failure_frees_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, clock = SqliteStore(str(tmp_path)), Clock()
    order: list[str] = []
    mine = locks(store, clock, "a@h", "web/prod", "api/prod", "db/prod")
    for lock in mine:

        def spy(run_id: str = "", lock: Lock = lock, take: Any = lock.acquire) -> None:
            order.append(lock.lock_id)
            take(run_id)

        monkeypatch.setattr(lock, "acquire", spy)
    other = locks(store, clock, "b@h", "db/prod")[0]
    other.acquire()
    group = LockSet(mine, mine[0])
    with pytest.raises(LockHeld, match="db/prod is held by b@h"):
        group.acquire()
    assert order == ["api/prod", "db/prod"]  # sorted: api first, stopped at db
    assert held(store) == {"db/prod": "b@h"}  # api/prod was freed again
    group.release()  # what a caller's finally does after a failed acquire: frees nothing
    assert held(store) == {"db/prod": "b@h"}
    other.release()
    group.acquire("run-1")
    assert held(store) == {"api/prod": "a@h", "db/prod": "a@h", "web/prod": "a@h"}
    assert group.fence == mine[0].fence and group.lock_id == "web/prod"
    group.set_run("run-2")
    assert {info.run_id for info in store.locks()} == {"run-2"}
    group.release()
    assert held(store) == {}


def test_every_lock_is_renewed_when_any_is_due(tmp_path: Path) -> None:
    store, clock = SqliteStore(str(tmp_path)), Clock()
    first, second = locks(store, clock, "a@h", "a/prod", "b/prod")
    group = LockSet([first, second], second)
    group.acquire()
    clock.wall, clock.mono = 1_020.0, 70.0
    second.renew(force=True)  # the primary is 20 s ahead of the other lock
    clock.wall, clock.mono = 1_030.0, 80.0  # a/prod is due (30 s of 100), b/prod not yet
    group.renew()
    assert {i.lock_id: i.lease_until for i in store.locks()} == {
        "a/prod": 1_130.0,
        "b/prod": 1_130.0,
    }
    clock.wall, clock.mono = 1_040.0, 90.0  # nothing due: no write
    group.renew()
    assert {i.lease_until for i in store.locks()} == {1_130.0}


def test_release_and_close_reach_every_lock_when_one_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, clock = SqliteStore(str(tmp_path)), Clock()
    mine = locks(store, clock, "a@h", "a/prod", "b/prod", "c/prod")
    group = LockSet(mine, mine[0])
    group.acquire()

    def broken() -> None:
        raise StateError("disk full")

    monkeypatch.setattr(mine[2], "release", broken)
    with pytest.raises(StateError, match="disk full"):
        group.release()
    assert held(store) == {"c/prod": "a@h"}  # only the broken one is left
    monkeypatch.setattr(mine[0], "close", broken)
    with pytest.raises(StateError, match="disk full"):
        group.close()
    assert [getattr(lock, "db", None) for lock in mine[1:]] == [None, None]


def test_the_primary_must_be_one_of_the_set(tmp_path: Path) -> None:
    store, clock = SqliteStore(str(tmp_path)), Clock()
    one, two = locks(store, clock, "a@h", "a/prod", "b/prod")
    with pytest.raises(ValueError, match="primary lock b/prod is not one of the set"):
        LockSet([one], two)
