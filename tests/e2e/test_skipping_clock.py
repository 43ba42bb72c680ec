"""The crash matrices' children wait on a SkippingClock: a gate's window
passes in full, in no real time, and parallel waits do not shorten each
other (the number of checks, which the matrices count, stays put)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

from deployctl.testing.aws import around_now
from deployctl.testing.cli import run_cli
from deployctl.testing.clock import SKIPPING, SkippingClock
from deployctl.testing.moto import MotoServer
from deployctl.testing.worlds import fraud


def test_a_wait_moves_only_the_waiting_threads_time_on() -> None:
    clock = SkippingClock()
    start = clock.now()
    assert clock.sleep(3600)
    assert clock.now() - start >= 3600
    elsewhere: list[float] = []
    other = threading.Thread(target=lambda: elsewhere.append(clock.now()))
    other.start()
    other.join()
    assert elsewhere[0] - start < 60  # another thread's time is still about real time
    assert abs(elsewhere[0] - time.time()) < 60


def test_a_cancelled_wait_says_so_and_moves_no_time() -> None:
    clock = SkippingClock()
    cancel = threading.Event()
    cancel.set()
    start = clock.now()
    assert clock.sleep(3600, cancel) is False
    assert clock.now() - start < 60


def last_checks(state: Path) -> dict[str, tuple[float, float]]:
    """Each gate's window and what was left of it at its last check."""
    with sqlite3.connect(state / "journal.sqlite") as db:
        rows = db.execute("SELECT step_id, data FROM records WHERE type = 'check' ORDER BY seq")
        return {step: (json.loads(d)["window"], json.loads(d)["remaining"]) for step, d in rows}


def test_a_child_on_the_skipping_clock_waits_out_each_gate_in_no_real_time(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    """Four 20-second windows: 80 s on the real clock, well past the timeout."""
    moto_server.world("fraud-or-not", fraud.build)
    moto_server.lambda_answers({"statusCode": 200}, {"statusCode": 200})
    fraud.metrics(moto_server, around_now(after=120), errors=0.0, duration=120.0)
    lengths = dict.fromkeys(("stage1", "stage2", "stage3", "monitor"), "20s")
    argv = fraud.apply_argv(moto_server, tmp_path / "state", **lengths)
    done = run_cli(*argv, clock=SKIPPING, timeout=30)
    assert done.returncode == 0, (done.stdout, done.stderr)
    gates = {k: v for k, v in last_checks(tmp_path / "state").items() if "smoke" not in k}
    assert sorted(gates) == [
        "us-east-1/canary/stage-1/analysis",
        "us-east-1/canary/stage-2/analysis",
        "us-east-1/canary/stage-3/analysis",
        "us-east-1/monitor",
    ]
    assert set(gates.values()) == {(20.0, 0.0)}  # every window waited out in full
