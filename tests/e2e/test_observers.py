"""Acceptance: people look at a running apply.  While ``deployctl apply`` runs
on a local state dir, ``status``, ``runs`` and a second ``apply`` (exit 4)
run from other processes; then the apply is killed with SIGKILL and applied
again.  Every record the killed process wrote is still in the journal, and
no step with a ``done`` record is sent again.

(With a database opened twice in one process, the observers' closes used to
delete the running apply's ``-wal``: records it had printed as done vanished
and resume shifted traffic again.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

from deployctl.state.sqlite import SqliteStore
from deployctl.testing.cli import Running, run_cli
from deployctl.testing.fake import HEALTHY
from deployctl.testing.worlds.fraud import PLAN

FAST = ["--var", "stage1=1m", "--var", "stage2=1m", "--var", "stage3=1m"]
FIRST, SECOND = "us-east-1/canary/stage-2/shift", "us-east-1/canary/stage-4/shift"
BEFORE_FIRST = "us-east-1/canary/stage-1/analysis"
BEFORE_SECOND = "us-east-1/canary/stage-3/analysis"


def cli(workdir: Path, world: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """Another process, in the same working directory, on the same fake world."""
    return run_cli(*argv, cwd=workdir, fake_world=world)


def look(workdir: Path, env: Path) -> dict[str, Any]:
    """What three observers see; the refused apply must say who holds the lock."""
    status = cli(workdir, env, "status", "--format", "json")
    assert status.returncode == 0, status.stderr
    runs = cli(workdir, env, "runs")
    assert runs.returncode == 0 and "running" in runs.stdout, runs.stdout + runs.stderr
    second = cli(workdir, env, "apply", PLAN, *FAST)
    assert second.returncode == 4, second.stdout + second.stderr
    assert "lock fraud-or-not/prod is held by" in second.stderr
    seen: dict[str, Any] = json.loads(status.stdout)
    return seen


def journal(state: Path) -> list[tuple[int, str, str | None]]:
    opened = SqliteStore(str(state)).journal()
    try:
        (run,) = opened.runs()
        return [(r.seq, r.type, r.step_id) for r in opened.records(run.run_id)]
    finally:
        opened.close()


def test_observers_during_an_apply_then_sigkill_and_resume_lose_nothing_repeat_nothing(
    tmp_path: Path,
) -> None:
    fifos = {FIRST: tmp_path / "hold-1", SECOND: tmp_path / "hold-2"}
    for fifo in fifos.values():
        os.mkfifo(fifo)
    world = tmp_path / "world.json"
    world.write_text(json.dumps({**HEALTHY, "block": {k: str(v) for k, v in fifos.items()}}))
    env = world
    state = tmp_path / ".deployctl"

    apply = Running("apply", PLAN, *FAST, cwd=tmp_path, fake_world=world)
    try:
        apply.wait_for(f"done   {BEFORE_FIRST}")  # next: FIRST, blocked in its call
        first = look(tmp_path, env)
        assert (state / "journal.sqlite-wal").exists() and (state / "journal.sqlite-shm").exists()
        with open(fifos[FIRST], "w", encoding="utf-8") as fh:  # let it go on
            fh.write("go")
        apply.wait_for(f"done   {BEFORE_SECOND}")
        second = look(tmp_path, env)
        assert second["records"] > first["records"]
        written = journal(state)
    finally:
        apply.proc.kill()
        apply.finish()
    assert apply.proc.returncode == -signal.SIGKILL

    after_kill = journal(state)
    assert after_kill[: len(written)] == written  # every record, as it was
    printed = {  # "12:00:00Z done   STEP ..."
        parts[2] for parts in map(str.split, apply.output.splitlines()) if parts[1:2] == ["done"]
    }
    done = {step for _, kind, step in after_kill if kind == "done"}
    assert printed and printed <= done, printed - done
    applied_before = Counter(
        e["step"] for e in json.loads(world.read_text())["log"] if e["op"] == "apply"
    )

    data = json.loads(world.read_text())
    data["block"] = {}
    world.write_text(json.dumps(data))
    resumed = cli(tmp_path, env, "apply", PLAN, *FAST)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    applies = Counter(e["step"] for e in json.loads(world.read_text())["log"] if e["op"] == "apply")
    assert set(applies.values()) == {1}, applies  # nothing sent twice
    for step in done:
        assert applies[step] == applied_before[step], step  # a done step is never sent again
    assert journal(state)[: len(after_kill)] == after_kill
