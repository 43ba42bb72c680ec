"""Acceptance: a paused lock holder wakes up after another process took the
run over and finished it, on each state backend.

Process A runs the fraud-or-not canary on the real Lambda actions (a moto
server) and freezes (SIGSTOP) right after journaling the stage-2 shift's
intent.  Its lease runs out (its clocks are moved on, standing in for the
minutes a frozen VM loses), B takes the lock over and finishes the run:
alias on version 2 alone, run succeeded.  Then A continues: it sends no AWS
write (its lease check refuses the UpdateAlias it was about to send), writes
no journal record, and exits 4; the alias and the journal stay as B left them.

The lease is the production one (120 s): only the clocks move.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from deployctl.state.api import StateStore
from deployctl.state.dynamodb import DynamoStore
from deployctl.state.dynamotable import create_table
from deployctl.state.sqlite import SqliteStore
from deployctl.testing.aws import around_now
from deployctl.testing.moto import MotoServer
from deployctl.testing.worlds.fraud import alias, build, metrics, published

HOLDER = str(Path(__file__).with_name("holder.py"))
STEP = "us-east-1/canary/stage-2/shift"


def holder(state: str, server: MotoServer, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, HOLDER, state, server.url, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def records(store: StateStore) -> tuple[str, list[tuple[int, str, str | None]]]:
    journal = store.journal()
    try:
        (run,) = journal.runs()
        return run.status, [(r.seq, r.type, r.step_id) for r in journal.records(run.run_id)]
    finally:
        journal.close()


@pytest.mark.parametrize("backend", ["sqlite", "dynamodb"])
def test_a_paused_holder_woken_after_a_takeover_sends_and_writes_nothing(
    moto_server: MotoServer, tmp_path: Path, backend: str
) -> None:
    build(moto_server)
    moto_server.lambda_answers({"statusCode": 200}, {"statusCode": 200})
    metrics(moto_server, around_now(after=120), errors=0.0, duration=120.0)
    store: StateStore
    if backend == "sqlite":
        spec = str(tmp_path / "state")
        store = SqliteStore(spec)
    else:
        create_table(moto_server.client("dynamodb"), "deployctl-state")
        spec = "dynamodb://deployctl-state?region=us-east-1"
        store = DynamoStore(
            "deployctl-state", session=moto_server.session, endpoint_url=moto_server.url
        )
    clock = tmp_path / "a-clock-offset"
    clock.write_text("0", encoding="utf-8")

    a = holder(spec, moto_server, "--pause-after-intent", STEP, "--clock-offset-file", str(clock))
    try:
        assert a.stdout is not None
        for line in a.stdout:
            if line.strip() == "paused":
                break
        else:
            raise AssertionError(f"A never reached {STEP}: {a.communicate()}")
        _, how = os.waitpid(a.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(how)
        assert alias(moto_server) == ("1", {"2": 0.1})  # stage 1, as A left it

        # A is frozen for "ten minutes": its lease ran out long ago.
        clock.write_text("600", encoding="utf-8")
        b = holder(spec, moto_server, "--wall-offset", "600")
        out, err = b.communicate(timeout=120)
        assert b.returncode == 0, out + err
        assert "took over expired lock fraud-or-not/prod" in out
        assert alias(moto_server) == ("2", {})
        finished = records(store)
        assert finished[0] == "succeeded"

        os.kill(a.pid, signal.SIGCONT)
        out, err = a.communicate(timeout=120)
    finally:
        if a.poll() is None:
            a.kill()
            a.wait()
    assert a.returncode == 4, out + err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "was not sent" in lines[0] or "no longer held by" in lines[0], lines[
        0
    ]  # the lease check, or the lost lock if a renewal came first
    assert alias(moto_server) == ("2", {})  # B's end state, untouched
    assert published(moto_server) == ["1", "2"]
    assert records(store) == finished  # A wrote no record after waking
