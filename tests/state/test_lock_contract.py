"""The lock contract and the lease rules, on every backend."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

import pytest

from deployctl.errors import DeployctlError, LeaseExpiring, LockHeld, LockLost, UserError
from deployctl.state.api import StateStore
from deployctl.state.lease import LeaseClock, LeasedLock, SendGuard


def test_a_live_lock_refuses_a_second_holder_with_exit_4_naming_it(store: StateStore) -> None:
    store.lock("demo/prod", "bob@runner-7", 4242, now=lambda: 1_000.0).acquire("run-1")
    with pytest.raises(LockHeld) as caught:
        store.lock("demo/prod", "amy@runner-8", 7, now=lambda: 1_060.0).acquire()
    assert caught.value.exit_code == 4
    assert str(caught.value) == (
        "lock demo/prod is held by bob@runner-7 (pid 4242) for run run-1 since "
        "1970-01-01T00:16:40Z, lease until 1970-01-01T00:18:40Z; wait for it, or if that "
        "run is dead: deployctl unlock demo/prod"
    )


def test_an_expired_lease_is_taken_over_and_the_old_holder_is_remembered(
    store: StateStore,
) -> None:
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
    assert old.lease.left() < 0  # and it may send nothing more
    with pytest.raises(LockLost):
        old.set_run("old-run")
    old.release()
    assert [lock.holder for lock in store.locks()] == ["amy@here"]
    new.release()
    assert store.locks() == []


def test_every_acquisition_gets_a_new_epoch_and_token(store: StateStore) -> None:
    fences = []
    for holder in ("a@h", "b@h", "c@h"):
        lock = store.lock("p/e", holder, 1)
        lock.acquire()
        fences.append(lock.fence)
        lock.release()
    assert [f.epoch for f in fences if f] == [1, 2, 3]
    assert len({f.token for f in fences if f}) == 3


def test_the_lease_is_renewed_once_a_quarter_lease_has_passed_on_the_monotonic_clock(
    store: StateStore,
) -> None:
    wall, mono = [0.0], [500.0]
    lock = store.lock(
        "p/e", "me@here", 1, lease=100, now=lambda: wall[0], monotonic=lambda: mono[0]
    )
    lock.acquire("r")
    wall[0], mono[0] = 10.0, 510.0
    lock.renew()  # too soon to bother the store
    assert store.locks()[0].lease_until == 100.0
    assert lock.lease.left() == 90.0
    wall[0], mono[0] = 30.0, 525.0
    lock.renew()
    assert store.locks()[0].lease_until == 130.0
    assert lock.lease.left() == 100.0
    lock.set_run("r2")
    assert store.locks()[0].run_id == "r2"


def test_a_dead_pid_is_taken_over_only_when_it_ran_on_this_machine(store: StateStore) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(gone.stdout)
    elsewhere = store.lock("a/e", f"ci@{socket.gethostname()}", pid)
    assert isinstance(elsewhere, LeasedLock)
    elsewhere.host = "another-machine"
    elsewhere.acquire("r")
    with pytest.raises(LockHeld):
        store.lock("a/e", "me@here", 2).acquire()
    store.lock("b/e", f"ci@{socket.gethostname()}", pid).acquire("r")
    taker = store.lock("b/e", "me@here", 2)
    taker.acquire()
    assert taker.taken_over is not None and taker.taken_over.pid == pid


@pytest.mark.parametrize("race", range(5))
def test_racing_acquirers_leave_exactly_one_holder(
    store: StateStore, busy_switching: None, race: int
) -> None:
    # A thread that fails before the barrier breaks it for the rest (no hang).
    barrier = threading.Barrier(6, timeout=30)
    won: list[str] = []
    lost: list[Exception] = []

    def contend(n: int) -> None:
        # This process's pid: a holder whose pid is gone from this host (as
        # pid 0 always is) may be taken over, and that is not the race here.
        lock = store.lock("p/e", f"w{n}@h", os.getpid())
        barrier.wait()
        try:
            lock.acquire()
            won.append(lock.holder)
        except (LockHeld, DeployctlError) as exc:
            lost.append(exc)

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(lost) == 5
    assert [lock.holder for lock in store.locks()] == won


def test_unlock_frees_a_lock_by_hand(store: StateStore) -> None:
    store.lock("p/e", "me@here", 1).acquire("r1")
    assert store.unlock("p/e").holder == "me@here"
    assert store.locks() == []
    with pytest.raises(UserError, match=r"no lock 'p/e' \(held locks: none\)"):
        store.unlock("p/e")
    store.lock("q/e", "me@here", 1).acquire()
    with pytest.raises(UserError, match=r"held locks: q/e"):
        store.unlock("p/e")


# -- the holder's own view of its lease ----------------------------------------------------


def test_the_lease_is_counted_from_before_the_write_that_took_it() -> None:
    mono = [100.0]
    lease = LeaseClock(120.0, lambda: mono[0])
    assert lease.left() < 0  # never taken
    lease.renewed(100.0)
    mono[0] = 130.0
    assert lease.left() == 90.0 and lease.due()


def test_the_send_guard_refuses_once_less_than_the_margin_is_left() -> None:
    mono = [0.0]
    lease = LeaseClock(120.0, lambda: mono[0])
    lease.renewed(0.0)
    guard = SendGuard()
    guard.check("lambda UpdateAlias")  # unarmed: no lock, nothing to protect
    guard.arm("demo/prod", lease, 45.0)
    mono[0] = 74.0
    guard.check("lambda UpdateAlias")  # 46 s left
    mono[0] = 76.0
    with pytest.raises(
        LeaseExpiring, match=r"44\.0 s of the lease left.*lambda UpdateAlias was not sent"
    ) as caught:
        guard.check("lambda UpdateAlias")
    assert caught.value.exit_code == 4
    guard.disarm()
    guard.check("lambda UpdateAlias")


def test_a_holder_pid_reused_by_a_later_process_counts_as_gone() -> None:
    """Liveness is psutil's: a missing pid is gone, and so is a pid whose
    process started after the lock was taken (the holder died and the pid
    was given to another program); the holder itself is alive."""
    import os
    import socket
    import time

    from deployctl.state.lease import process_gone

    host = socket.gethostname()
    assert not process_gone(host, os.getpid(), since=time.time())
    assert process_gone(host, os.getpid(), since=0.0)
    assert not process_gone("another-host", os.getpid(), since=0.0)
    unused = max(2, max(int(p) for p in os.listdir("/proc") if p.isdigit()) + 10_000)
    assert process_gone(host, unused, since=time.time())
