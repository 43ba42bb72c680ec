"""The crash matrix on the real AWS actions: ``deployctl apply
plans/fraud-or-not.yaml`` against a moto server is SIGKILLed right after its
K-th journal record (``DEPLOYCTL_TEST_KILL_AFTER_RECORD``), then applied
again against the same server.  Every time: the run finishes, alias live
serves version 2 alone, and exactly one version was published.

Every K of the ~28 records runs, one after another (each costs two
processes and the canary's gates on the real clock, about 7 s).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from e2e_helpers import MotoServer, run_cli
from worlds import alias, fraud_apply, lambda_metrics, lambda_world, published

KILL = "DEPLOYCTL_TEST_KILL_AFTER_RECORD"


def fresh(server: MotoServer) -> None:
    server.reset()
    lambda_world(server)
    # The smoke invoke answers; a resumed run may invoke once more.
    server.lambda_answers({"statusCode": 200}, {"statusCode": 200})
    lambda_metrics(server, errors=0.0, duration=120.0, around=(-60, 180))


def records(state: Path) -> list[tuple[str, str | None]]:
    with sqlite3.connect(state / "journal.sqlite") as db:
        return list(db.execute("SELECT type, step_id FROM records ORDER BY seq"))


@pytest.fixture
def baseline(moto_server: MotoServer, tmp_path: Path) -> list[tuple[str, str | None]]:
    """The uninterrupted run's journal, record by record."""
    fresh(moto_server)
    done = run_cli(*fraud_apply(moto_server, tmp_path / "baseline"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert alias(moto_server) == ("2", {})
    return records(tmp_path / "baseline")


def test_a_kill_after_any_journal_record_then_apply_again_publishes_once_and_promotes(
    moto_server: MotoServer, tmp_path: Path, baseline: list[tuple[str, str | None]]
) -> None:
    for k in range(1, len(baseline) + 1):
        fresh(moto_server)
        state = tmp_path / f"k{k}"
        argv = fraud_apply(moto_server, state)
        killed = run_cli(*argv, env={KILL: str(k)})
        assert killed.returncode == -9, (k, killed.stdout, killed.stderr)
        # (a parallel step may have journaled one more before the kill landed)
        assert len(records(state)) >= k
        resumed = run_cli(*argv)
        assert resumed.returncode == 0, (k, resumed.stdout, resumed.stderr)
        assert alias(moto_server) == ("2", {}), k
        assert published(moto_server) == ["1", "2"], k


def test_a_reviewed_run_killed_at_its_checkpoints_resumes_without_looking_stale(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    """``apply FILE`` from ``plan --out``: killed right after the review is
    journaled, after an intent (the call's effect in doubt) and after a done
    record (its ``seen`` fingerprints), then applied again.  The run's own
    changes must never look like someone else's."""

    def review(state: Path) -> tuple[str, ...]:
        saved = state.parent / f"{state.name}.plan.json"
        argv = list(fraud_apply(moto_server, state))
        argv[0] = "plan"
        planned = run_cli(*argv, "--out", str(saved))
        assert planned.returncode == 0, planned.stderr
        return ("apply", str(saved), *fraud_apply(moto_server, state)[2:])

    fresh(moto_server)
    base = tmp_path / "baseline"
    done = run_cli(*review(base))
    assert done.returncode == 0, done.stdout + done.stderr
    kinds = records(base)
    shifts = [n for n, (kind, step) in enumerate(kinds, 1) if step and step.endswith("/shift")]
    checkpoints = sorted(
        {kinds.index(("reviewed", None)) + 1, shifts[0], shifts[1], shifts[2], shifts[3]}
    )
    assert len(checkpoints) == 5
    for k in checkpoints:
        fresh(moto_server)
        state = tmp_path / f"k{k}"
        argv = review(state)
        killed = run_cli(*argv, env={KILL: str(k)})
        assert killed.returncode == -9, (k, killed.stdout, killed.stderr)
        resumed = run_cli(*argv)
        assert resumed.returncode == 0, (k, resumed.stdout, resumed.stderr)
        assert alias(moto_server) == ("2", {}), k
        assert published(moto_server) == ["1", "2"], k
