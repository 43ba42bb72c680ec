"""Real ``python -m deployctl`` processes against the persistent fake world:
the crash matrix, lock contention, and the commands people type."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLAN = str(ROOT / "plans" / "fraud-or-not.yaml")
FAST = ["--var", "stage1=1m", "--var", "stage2=1m", "--var", "stage3=1m"]
HEALTHY = {"metrics": {"*": {"ErrorRate": 0.001, "Latency": 100}}}


def deployctl(
    workdir: Path, *args: str, crash: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DEPLOYCTL_ACTIONS=f"fake:{workdir / 'world.json'}")
    env.pop("DEPLOYCTL_FAKE_CRASH", None)
    if crash:
        env["DEPLOYCTL_FAKE_CRASH"] = crash
    return subprocess.run(
        [sys.executable, "-m", "deployctl", *args], cwd=workdir, env=env,
        capture_output=True, text=True, timeout=timeout, check=False,
    )


def new_world(workdir: Path, data: dict[str, Any] = HEALTHY) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "world.json").write_text(json.dumps(data), encoding="utf-8")
    return workdir


def world(workdir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((workdir / "world.json").read_text(encoding="utf-8"))
    return data


def final(workdir: Path) -> dict[str, Any]:
    data = world(workdir)
    return {"state": data["state"], "versions": data["versions"]}


def applies(workdir: Path) -> Counter[str]:
    return Counter(e["step"] for e in world(workdir)["log"] if e["op"] == "apply")


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], int, int]:
    """The uninterrupted run: final world, journal records, and mutations."""
    workdir = new_world(tmp_path_factory.mktemp("baseline"))
    done = deployctl(workdir, "apply", PLAN, *FAST)
    assert done.returncode == 0, done.stderr
    status = json.loads(deployctl(workdir, "status", "--format", "json").stdout)
    assert set(applies(workdir).values()) == {1}
    return final(workdir), status["records"], sum(applies(workdir).values())


def crash_then_resume(base: Path, crash: str) -> tuple[str, dict[str, Any], Counter[str]]:
    workdir = new_world(base / crash.replace(":", "-"))
    killed = deployctl(workdir, "apply", PLAN, *FAST, crash=crash)
    assert killed.returncode == -9, (crash, killed.stdout, killed.stderr)
    resumed = deployctl(workdir, "apply", PLAN, *FAST)
    assert resumed.returncode == 0, (crash, resumed.stdout, resumed.stderr)
    return crash, final(workdir), applies(workdir)


def test_crash_after_every_journal_record_then_resume_matches_an_uninterrupted_run(
    baseline, tmp_path
):
    expected, records, mutations = baseline
    points = [f"record:{k}" for k in range(1, records + 1)]
    points += [f"apply:{k}" for k in range(1, mutations + 1)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda p: crash_then_resume(tmp_path, p), points))
    for crash, state, counts in results:
        assert state == expected, crash
        # observe always found the earlier attempt when it had taken effect.
        assert set(counts.values()) == {1}, (crash, counts)
    assert len(results) == records + mutations


FAILING = {**HEALTHY, "fail": {"us-east-1/canary/stage-2/shift": 1}}


def test_crash_after_every_record_of_a_failing_run_then_resume_rolls_back_the_same(tmp_path):
    base = new_world(tmp_path / "base", FAILING)
    done = deployctl(base, "apply", PLAN, *FAST)
    assert done.returncode == 3, done.stdout + done.stderr
    expected = final(base)
    records = json.loads(deployctl(base, "status", "--format", "json").stdout)["records"]

    def one(k: int) -> tuple[int, dict[str, Any], Counter[str], int]:
        workdir = new_world(tmp_path / f"k{k}", FAILING)
        killed = deployctl(workdir, "apply", PLAN, *FAST, crash=f"record:{k}")
        assert killed.returncode == -9, (k, killed.stderr)
        resumed = deployctl(workdir, "apply", PLAN, *FAST)
        return k, final(workdir), applies(workdir), resumed.returncode

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(one, range(1, records + 1)))
    for k, state, counts, code in results:
        # Killed after the last record, the run is already rolled back: the
        # second apply starts a fresh run, so compare only the earlier kills.
        if k == records:
            continue
        assert code == 3, k
        assert state == expected, k
        assert set(counts.values()) == {1}, (k, counts)


def test_four_simultaneous_applies_one_runs_the_others_exit_4_naming_the_holder(tmp_path):
    fifo = tmp_path / "hold"
    os.mkfifo(fifo)
    workdir = new_world(tmp_path, {**HEALTHY, "block": {"us-east-1/deploy/publish": str(fifo)}})
    env = dict(os.environ, DEPLOYCTL_ACTIONS=f"fake:{workdir / 'world.json'}")
    procs = [
        subprocess.Popen([sys.executable, "-m", "deployctl", "apply", PLAN, *FAST], cwd=workdir,
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    # The winner blocks on the FIFO while holding the lock, so the three losers
    # all finish first; wait on each in turn with a short timeout.
    while sum(proc.poll() is not None for proc in procs) < 3:
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.2)
    losers = [proc for proc in procs if proc.returncode is not None]
    pending = [proc for proc in procs if proc.returncode is None]
    (winner,) = pending
    with open(fifo, "w", encoding="utf-8") as fh:
        fh.write("go")
    _, err = winner.communicate(timeout=120)
    assert winner.returncode == 0, err
    for proc in losers:
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 4
        assert f"pid {winner.pid}" in err and "@" in err and "fraud-or-not/prod" in err
        assert "Traceback" not in err
    assert set(applies(workdir).values()) == {1}


def test_approve_resume_status_runs_and_unlock_from_the_command_line(tmp_path):
    workdir = new_world(tmp_path, {"metrics": {"*": {"ErrorRate": None, "Latency": 100}}})
    paused = deployctl(workdir, "apply", PLAN, *FAST)
    assert paused.returncode == 6, paused.stderr
    assert "deployctl approve" in paused.stdout
    status = json.loads(deployctl(workdir, "status", "--format", "json").stdout)
    assert status["version"] == 1
    run_id = status["run"]["run_id"]
    assert status["run"]["status"] == "waiting"
    by_id = {s["id"]: s for s in status["steps"]}
    published = by_id["us-east-1/deploy/publish"]["outputs"]
    assert {k: published[k] for k in ("new_version", "stable_version")} == {
        "new_version": "2",
        "stable_version": "1",
    }
    assert by_id["us-east-1/canary/stage-1/analysis"]["status"] == "waiting"
    assert run_id in deployctl(workdir, "runs").stdout

    approved = deployctl(workdir, "approve", run_id)
    assert approved.returncode == 0 and "us-east-1/canary/stage-1/analysis" in approved.stdout
    # Later gates see no data either; let them through as well.
    data = world(workdir)
    data["metrics"]["*"]["ErrorRate"] = 0.001
    (workdir / "world.json").write_text(json.dumps(data), encoding="utf-8")
    resumed = deployctl(workdir, "resume", run_id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "succeeded" in deployctl(workdir, "status", run_id).stdout

    rolled = deployctl(workdir, "rollback", run_id)
    assert rolled.returncode == 3, rolled.stdout + rolled.stderr
    assert "traffic" not in json.dumps(world(workdir)["state"])

    unknown = deployctl(workdir, "unlock", "fraud-or-not/prod")
    assert unknown.returncode == 1 and "no lock" in unknown.stderr


def test_a_failed_gate_rolls_back_and_exits_3(tmp_path):
    workdir = new_world(tmp_path, {"metrics": {"*": {"ErrorRate": 0.5, "Latency": 100}}})
    result = deployctl(workdir, "apply", PLAN, *FAST)
    assert result.returncode == 3, result.stdout + result.stderr
    undone = [e["step"] for e in world(workdir)["log"] if e["op"] == "undo"]
    assert undone == ["us-east-1/canary/stage-1/shift"]
