"""Real deployctl processes against the persistent fake world: the crash
matrix, lock contention, and the commands people type.

The crash matrix cuts ``apply plans/fraud-or-not.yaml`` right after each
journal record and right after each change the fake world makes (before its
done record), one test per cut, then applies again: the end state must be
the uninterrupted run's, with every change made exactly once.  The world
and journal a kill at each cut leaves come from one run paused there
(:mod:`deployctl.testing.cuts`); two cuts that leave the same world (two
records of one commit) share one apply.  It runs on both state stores: the
local SQLite journal, and a DynamoDB table (on the moto server) holding the
journal and the lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from deployctl.state.dynamotable import create_table
from deployctl.testing.cli import run_fake, start_cli
from deployctl.testing.cuts import CutRuns, Cuts, grouped
from deployctl.testing.fake import HEALTHY, applies, new_world, read_world
from deployctl.testing.worlds.fraud import PLAN

FAST = ["--var", "stage1=1m", "--var", "stage2=1m", "--var", "stage3=1m"]
FAILING = {**HEALTHY, "fail": {"us-east-1/canary/stage-2/shift": 1}}
# What the uninterrupted runs write: journal records and changes to the
# world.  One test per cut below; test_the_matrix_cuts_at_every_point checks
# these against real runs (after a change to the plan or the executor, set
# them to what it reports).
RECORDS = 37
MUTATIONS = 8
FAILING_RECORDS = 19
TABLE = "deployctl-state"


@pytest.fixture(params=["sqlite", "dynamodb"])
def state(request: pytest.FixtureRequest) -> list[str]:
    """The options that put the journal and the lock in each store."""
    if request.param == "sqlite":
        return []
    server = request.getfixturevalue("moto_server")
    create_table(server.client("dynamodb"), TABLE)
    return ["--state-dir", f"dynamodb://{TABLE}?region=us-east-1", "--endpoint-url", server.url]


def final(workdir: Path) -> dict[str, Any]:
    data = read_world(workdir)
    return {"state": data["state"], "versions": data["versions"]}


def journal_size(workdir: Path, *state: str) -> int:
    status = run_fake(workdir, "status", "--format", "json", *state)
    assert status.returncode == 0, status.stderr
    return int(json.loads(status.stdout)["records"])


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], int, int]:
    """The uninterrupted run: final world, journal records, and mutations."""
    workdir = new_world(tmp_path_factory.mktemp("baseline"))
    done = run_fake(workdir, "apply", PLAN, *FAST)
    assert done.returncode == 0, done.stderr
    assert set(applies(workdir).values()) == {1}
    return final(workdir), journal_size(workdir), sum(applies(workdir).values())


@pytest.fixture(scope="module")
def failing_baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], int]:
    """The uninterrupted run that fails at stage 2 and rolls back: final world, records."""
    workdir = new_world(tmp_path_factory.mktemp("failing"), FAILING)
    done = run_fake(workdir, "apply", PLAN, *FAST)
    assert done.returncode == 3, done.stdout + done.stderr
    return final(workdir), journal_size(workdir)


def test_the_matrix_cuts_at_every_point(
    baseline: tuple[dict[str, Any], int, int], failing_baseline: tuple[dict[str, Any], int]
) -> None:
    _, records, mutations = baseline
    found = {"RECORDS": records, "MUTATIONS": mutations, "FAILING_RECORDS": failing_baseline[1]}
    assert found == {
        "RECORDS": RECORDS,
        "MUTATIONS": MUTATIONS,
        "FAILING_RECORDS": FAILING_RECORDS,
    }, "the runs changed: set these counts in tests/execute/test_subprocess.py"


def test_each_store_journals_the_same_run(
    baseline: tuple[dict[str, Any], int, int], tmp_path: Path, state: list[str]
) -> None:
    """The cuts below are the same points on both stores."""
    workdir = new_world(tmp_path)
    done = run_fake(workdir, "apply", PLAN, *FAST, *state)
    assert done.returncode == 0, done.stderr
    assert journal_size(workdir, *state) == RECORDS
    assert final(workdir) == baseline[0]


CUTS = [f"record:{k}" for k in range(1, RECORDS + 1)]
CUTS += [f"apply:{k}" for k in range(1, MUTATIONS + 1)]


def cut(
    matrix: str,
    points: list[str],
    world: dict[str, Any],
    request: pytest.FixtureRequest,
    state: list[str],
) -> tuple[Cuts, list[str]]:
    """The run paused at each of ``points`` (:meth:`Cuts.restore` puts the
    world folder back as a kill there left it); the apply argv."""
    store = "dynamodb" if state else "sqlite"
    runs: CutRuns = request.getfixturevalue("cut_runs")
    server = request.getfixturevalue("moto_server") if state else None

    def paused(folder: Path) -> Cuts:
        workdir = new_world(folder / "world", world)
        cuts = Cuts(workdir, folder / "kept", server)
        cuts.run(
            "apply",
            PLAN,
            *FAST,
            *state,
            points=points,
            cwd=workdir,
            fake_world=workdir / "world.json",
        )
        return cuts

    cuts: Cuts = runs.get((matrix, store), paused)
    return cuts, ["apply", PLAN, *FAST, *state]


def applied_again(cuts: Cuts, argv: list[str], crash: str, code: int, end: Any) -> None:
    """The world a kill at ``crash`` left, applied again: exit ``code``, the
    world ``end``, and every change made once (observe always found the
    earlier attempt when it had taken effect)."""
    workdir = cuts.folder

    def again() -> None:
        resumed = run_fake(workdir, *argv)
        assert resumed.returncode == code, (resumed.stdout, resumed.stderr)
        assert final(workdir) == end
        assert set(applies(workdir).values()) == {1}, applies(workdir)

    cuts.restore(crash)
    cuts.apply_again(crash, again)


FAILING_CUTS = [f"record:{k}" for k in range(1, FAILING_RECORDS + 1)]


# A matrix's paused run is made by its first test, as that test's setup.
@pytest.fixture
def paused_run(request: pytest.FixtureRequest, state: list[str]) -> tuple[Cuts, list[str]]:
    return cut("fake-world", CUTS, HEALTHY, request, state)


@pytest.fixture
def paused_failing_run(request: pytest.FixtureRequest, state: list[str]) -> tuple[Cuts, list[str]]:
    return cut("fake-world-failing", FAILING_CUTS, FAILING, request, state)


@pytest.mark.parametrize("crash", grouped("fake-world", CUTS))
def test_a_run_killed_at_any_point_then_applied_again_ends_as_the_uninterrupted_run(
    crash: str,
    baseline: tuple[dict[str, Any], int, int],
    paused_run: tuple[Cuts, list[str]],
) -> None:
    cuts, argv = paused_run
    assert cuts.done is not None and cuts.done.returncode == 0, cuts.done
    applied_again(cuts, argv, crash, 0, baseline[0])


@pytest.mark.parametrize("crash", grouped("fake-world-failing", FAILING_CUTS))
def test_a_failing_run_killed_after_any_record_then_applied_again_rolls_back_the_same(
    crash: str,
    failing_baseline: tuple[dict[str, Any], int],
    paused_failing_run: tuple[Cuts, list[str]],
) -> None:
    cuts, argv = paused_failing_run
    assert cuts.done is not None and cuts.done.returncode == 3, cuts.done
    applied_again(cuts, argv, crash, 3, failing_baseline[0])


def test_four_simultaneous_applies_one_runs_the_others_exit_4_naming_the_holder(tmp_path):
    fifo = tmp_path / "hold"
    os.mkfifo(fifo)
    workdir = new_world(tmp_path, {**HEALTHY, "block": {"us-east-1/deploy/publish": str(fifo)}})
    procs = [
        start_cli("apply", PLAN, *FAST, cwd=workdir, fake_world=workdir / "world.json")
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
        assert proc.returncode == 4, err
        assert f"pid {winner.pid}" in err and "@" in err and "fraud-or-not/prod" in err
        assert "Traceback" not in err
    assert set(applies(workdir).values()) == {1}


def test_approve_resume_status_runs_and_unlock_from_the_command_line(tmp_path):
    workdir = new_world(tmp_path, {"metrics": {"*": {"ErrorRate": None, "Latency": 100}}})
    paused = run_fake(workdir, "apply", PLAN, *FAST)
    assert paused.returncode == 6, paused.stderr
    assert "deployctl approve" in paused.stdout
    status = json.loads(run_fake(workdir, "status", "--format", "json").stdout)
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
    assert run_id in run_fake(workdir, "runs").stdout

    approved = run_fake(workdir, "approve", run_id)
    assert approved.returncode == 0 and "us-east-1/canary/stage-1/analysis" in approved.stdout
    # Later gates see no data either; let them through as well.
    data = read_world(workdir)
    data["metrics"]["*"]["ErrorRate"] = 0.001
    (workdir / "world.json").write_text(json.dumps(data), encoding="utf-8")
    resumed = run_fake(workdir, "resume", run_id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "succeeded" in run_fake(workdir, "status", run_id).stdout

    rolled = run_fake(workdir, "rollback", run_id)
    assert rolled.returncode == 3, rolled.stdout + rolled.stderr
    assert "traffic" not in json.dumps(read_world(workdir)["state"])

    unknown = run_fake(workdir, "unlock", "fraud-or-not/prod")
    assert unknown.returncode == 1 and "no lock" in unknown.stderr


def test_a_failed_gate_rolls_back_and_exits_3(tmp_path):
    workdir = new_world(tmp_path, {"metrics": {"*": {"ErrorRate": 0.5, "Latency": 100}}})
    result = run_fake(workdir, "apply", PLAN, *FAST)
    assert result.returncode == 3, result.stdout + result.stderr
    undone = [e["step"] for e in read_world(workdir)["log"] if e["op"] == "undo"]
    assert undone == ["us-east-1/canary/stage-1/shift"]


def test_the_next_commands_a_paused_run_prints_carry_its_options_and_work_as_printed(tmp_path):
    """ "approve with" and "then: resume" repeat --state-dir and --region (the
    options that say where the run is), quoted for a shell, and run as printed."""
    workdir = new_world(tmp_path, {"metrics": {"*": {"ErrorRate": None, "Latency": 100}}})
    where = ["--state-dir", "ci state/deploys", "--region", "eu-west-1"]
    paused = run_fake(workdir, "apply", PLAN, *FAST, *where)
    assert paused.returncode == 6, paused.stdout + paused.stderr
    lines = [line.strip() for line in paused.stdout.splitlines()]
    approve = next(line for line in lines if line.startswith("approve with: "))
    resume = next(line for line in lines if line.startswith("then: "))
    run_id = json.loads(run_fake(workdir, "status", "--format", "json", *where).stdout)["run"][
        "run_id"
    ]
    step = "eu-west-1/canary/stage-1/analysis"  # --region placed the plan there
    suffix = "--state-dir 'ci state/deploys' --region eu-west-1"
    assert approve == f"approve with: deployctl approve {run_id} {step} {suffix}"
    assert resume == f"then: deployctl resume {run_id} {suffix}"

    approved = run_fake(workdir, *shlex.split(approve.removeprefix("approve with: deployctl ")))
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.splitlines()[-1] == f"continue with: deployctl resume {run_id} {suffix}"
    data = read_world(workdir)
    data["metrics"]["*"]["ErrorRate"] = 0.001
    (workdir / "world.json").write_text(json.dumps(data), encoding="utf-8")
    resumed = run_fake(workdir, *shlex.split(resume.removeprefix("then: deployctl ")))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
