"""The crash matrix on the real AWS actions: ``deployctl apply
plans/fraud-or-not.yaml`` against a moto server is SIGKILLed at one point,
then applied again against the same server.  Every time: the run finishes,
alias live serves version 2 alone, and exactly one version was published.

The points: right after each journal record is durable, and right after
each AWS call returned (before the executor could journal what it did).
One test per point, so a failure names it; the counts are committed and
checked against an uninterrupted run.  The world a kill at each point leaves
comes from one run paused there (:mod:`deployctl.testing.cuts`); each test
puts it back and applies again (once per distinct world: a point right
after a read-only call, or after the first of two records one commit wrote,
leaves the world the point before it left, and shares its apply).  The last call (the deployment
metrics) comes after the run's last record: a kill there leaves a run that
is over, and the next apply would be a new deployment.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from deployctl.state.dynamotable import create_table
from deployctl.testing.aws import around_now
from deployctl.testing.cli import run_cli
from deployctl.testing.clock import SKIPPING
from deployctl.testing.crash import read_trace
from deployctl.testing.cuts import CutRuns, Cuts, grouped
from deployctl.testing.moto import MotoServer
from deployctl.testing.worlds import fraud

OK = {"statusCode": 200}
# What the uninterrupted run does: journal records, AWS calls, and of those
# the calls after its last record.  After a change to the plan, the executor
# or the actions, set them to what test_the_matrix_cuts_at_every_point finds.
RECORDS = 28
CALLS = 19
CALLS_AFTER_THE_RUN = 1
CUTS = [f"record:{k}" for k in range(1, RECORDS + 1)]
CUTS += [f"call:{k}" for k in range(1, CALLS - CALLS_AFTER_THE_RUN + 1)]
# The record cuts again, with the journal and the lock in a DynamoDB table.
SHARED = [f"record:{k}" for k in range(1, RECORDS + 1)]


def fresh(server: MotoServer) -> None:
    server.world("fraud-or-not", fraud.build)
    # The smoke invoke answers; a resumed run may invoke once more.
    server.lambda_answers(OK, OK)
    fraud.metrics(server, around_now(), errors=0.0, duration=120.0)


def journal(state: Path) -> list[str]:
    with sqlite3.connect(state / "journal.sqlite") as db:
        rows = db.execute("SELECT type, step_id FROM records ORDER BY seq")
        return [f"{kind} {step or '-'}" for kind, step in rows]


def counts(trace: list[str]) -> dict[str, int]:
    last_record = max(n for n, line in enumerate(trace) if line.startswith("record "))
    return {
        "RECORDS": sum(line.startswith("record ") for line in trace),
        "CALLS": sum(line.startswith("call ") for line in trace),
        "CALLS_AFTER_THE_RUN": sum(line.startswith("call ") for line in trace[last_record:]),
    }


def test_the_matrix_cuts_at_every_point(moto_server: MotoServer, tmp_path: Path) -> None:
    fresh(moto_server)
    trace = tmp_path / "trace"
    done = run_cli(*fraud.apply_argv(moto_server, tmp_path / "state"), trace=trace, clock=SKIPPING)
    assert done.returncode == 0, done.stdout + done.stderr
    assert fraud.alias(moto_server) == ("2", {})
    lines = read_trace(str(trace))
    expected = {"RECORDS": RECORDS, "CALLS": CALLS, "CALLS_AFTER_THE_RUN": CALLS_AFTER_THE_RUN}
    assert counts(lines) == expected, "\n".join(lines)


def cut_at(
    server: MotoServer, runs: CutRuns, points: list[str], *, shared_table: bool = False
) -> tuple[Cuts, list[str]]:
    """The run paused at each of ``points`` (:meth:`Cuts.restore` puts the
    world back as a kill there left it); the argv of the apply.
    ``shared_table``: the journal and the lock in a DynamoDB table instead
    of the state directory."""

    def paused(folder: Path) -> tuple[Cuts, list[str]]:
        fresh(server)
        argv = list(fraud.apply_argv(server, folder / "state"))
        if shared_table:
            create_table(server.client("dynamodb"), "deployctl-state")
            argv[argv.index("--state-dir") + 1] = "dynamodb://deployctl-state?region=us-east-1"
        cuts = Cuts(folder / "state", folder / "kept", server)
        done = cuts.run(*argv, points=points, clock=SKIPPING)
        assert done.returncode == 0, (done.stdout, done.stderr)
        return cuts, argv

    return runs.get(("fraud-or-not", shared_table), paused)  # type: ignore[no-any-return]


def promotes(server: MotoServer, argv: list[str]) -> None:
    """The apply again finishes the run: alias live on version 2 alone, and
    exactly one version published."""
    resumed = run_cli(*argv, clock=SKIPPING)
    assert resumed.returncode == 0, (resumed.stdout, resumed.stderr)
    assert fraud.alias(server) == ("2", {})
    assert fraud.published(server) == ["1", "2"]


# A matrix's paused run is made by its first test, as that test's setup.
@pytest.fixture
def paused_run(moto_server: MotoServer, cut_runs: CutRuns) -> tuple[Cuts, list[str]]:
    return cut_at(moto_server, cut_runs, CUTS)


@pytest.fixture
def paused_run_on_a_table(moto_server: MotoServer, cut_runs: CutRuns) -> tuple[Cuts, list[str]]:
    return cut_at(moto_server, cut_runs, SHARED, shared_table=True)


@pytest.mark.parametrize("crash", grouped("fraud-or-not", CUTS))
def test_a_kill_at_any_point_then_apply_again_publishes_once_and_promotes(
    crash: str, moto_server: MotoServer, paused_run: tuple[Cuts, list[str]]
) -> None:
    cuts, argv = paused_run
    cuts.restore(crash)
    if crash.startswith("record:"):
        # (a parallel step may have journaled one more before the stop landed)
        assert len(journal(cuts.folder)) >= int(crash.split(":")[1])
    cuts.apply_again(crash, lambda: promotes(moto_server, argv))


@pytest.mark.parametrize("crash", grouped("fraud-or-not-shared", SHARED))
def test_on_a_shared_table_a_kill_after_any_record_then_apply_again_publishes_once_and_promotes(
    crash: str, moto_server: MotoServer, paused_run_on_a_table: tuple[Cuts, list[str]]
) -> None:
    """The record cuts again with the journal and lock in a DynamoDB table.
    (The call cuts are not repeated: there the journal's own DynamoDB calls
    would be counted among the AWS calls, and the record cuts already fall
    right after each of them.)"""
    cuts, argv = paused_run_on_a_table

    def again() -> None:
        promotes(moto_server, argv)
        assert not cuts.folder.exists()  # it all lives in the table

    cuts.restore(crash)
    cuts.apply_again(crash, again)


@pytest.mark.parametrize("k", range(CALLS - CALLS_AFTER_THE_RUN + 1, CALLS + 1))
def test_a_kill_after_the_run_ended_leaves_it_succeeded_and_promoted(
    k: int, moto_server: MotoServer, tmp_path: Path
) -> None:
    fresh(moto_server)
    state = tmp_path / "state"
    killed = run_cli(*fraud.apply_argv(moto_server, state), crash=f"call:{k}", clock=SKIPPING)
    assert killed.returncode == -9, (killed.stdout, killed.stderr)
    status = run_cli("status", "--format", "json", "--state-dir", str(state))
    assert json.loads(status.stdout)["run"]["status"] == "succeeded", status.stdout
    assert journal(state)[-1] == "run_finished -"
    assert fraud.alias(moto_server) == ("2", {})
    assert fraud.published(moto_server) == ["1", "2"]


# A reviewed run (``apply FILE`` from ``plan --out``) killed right after the
# review is journaled, after an intent (the call's effect in doubt), after a
# done record (its ``seen`` fingerprints) and right after the alias moved:
# the run's own changes must never look like someone else's.  Where each
# point is in the uninterrupted reviewed run (checked below):
CHECKPOINTS = {
    "record:2": "record reviewed -",
    "record:11": "record intent us-east-1/canary/stage-1/shift",
    "record:12": "record done us-east-1/canary/stage-1/shift",
    "record:15": "record intent us-east-1/canary/stage-2/shift",
    "record:16": "record done us-east-1/canary/stage-2/shift",
    "call:21": "call UpdateAlias",  # stage 1's
    "call:25": "call UpdateAlias",  # stage 2's
}


def reviewed(server: MotoServer, state: Path) -> tuple[str, ...]:
    """``plan --out`` now; the argv of ``apply`` from the saved file."""
    saved = state.parent / f"{state.name}.plan.json"
    argv = list(fraud.apply_argv(server, state))
    argv[0] = "plan"
    planned = run_cli(*argv, "--out", str(saved))
    assert planned.returncode == 0, planned.stderr
    return ("apply", str(saved), *fraud.apply_argv(server, state)[2:])


def test_the_reviewed_checkpoints_are_where_they_say(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    fresh(moto_server)
    done = run_cli(
        *reviewed(moto_server, tmp_path / "state"), trace=tmp_path / "trace", clock=SKIPPING
    )
    assert done.returncode == 0, done.stdout + done.stderr
    trace = read_trace(str(tmp_path / "trace"))
    at = {}
    for point in CHECKPOINTS:
        kind, k = point.split(":")
        at[point] = [line for line in trace if line.startswith(f"{kind} ")][int(k) - 1]
    assert at == CHECKPOINTS, "\n".join(trace)


@pytest.mark.parametrize("crash", CHECKPOINTS)
def test_a_reviewed_run_killed_at_its_checkpoints_resumes_without_looking_stale(
    crash: str, moto_server: MotoServer, tmp_path: Path
) -> None:
    fresh(moto_server)
    argv = reviewed(moto_server, tmp_path / "state")
    killed = run_cli(*argv, crash=crash, clock=SKIPPING)
    assert killed.returncode == -9, (killed.stdout, killed.stderr)
    resumed = run_cli(*argv, clock=SKIPPING)
    assert resumed.returncode == 0, (resumed.stdout, resumed.stderr)
    assert fraud.alias(moto_server) == ("2", {})
    assert fraud.published(moto_server) == ["1", "2"]
