"""The crash matrix on plans/people-cards.yaml against a moto server: the
apply is SIGKILLed right after its K-th journal record
(``DEPLOYCTL_TEST_KILL_AFTER_RECORD``), then applied again.  Every time the
final AWS state (each region's alias and versions, the Route 53 records,
the flags, the snapshots) equals the uninterrupted run's.

Every K runs, one after another (the plan writes about 49 records; each K
costs two processes and three regions' gates on the real clock, about 10 s,
so this test takes minutes: it is the proof that resume never repeats a
publish, a snapshot or a flag write wherever the cut falls).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import MotoServer, run_cli
from people_world import ENV, healthy, people_apply, people_world, world_state

KILL = "DEPLOYCTL_TEST_KILL_AFTER_RECORD"


def fresh(server: MotoServer) -> str:
    server.reset()
    zone = people_world(server)
    healthy(server)
    server.lambda_answers({"migrated": 1200}, {"migrated": 1200})
    return zone


def records(state: Path) -> list[tuple[str, str | None]]:
    with sqlite3.connect(state / "journal.sqlite") as db:
        return list(db.execute("SELECT type, step_id FROM records ORDER BY seq"))


def comparable(state: dict[str, Any]) -> dict[str, Any]:
    return {**state, "records": sorted(state["records"].items())}


@pytest.fixture
def baseline(moto_server: MotoServer, tmp_path: Path) -> tuple[dict[str, Any], list[Any]]:
    zone = fresh(moto_server)
    done = run_cli(
        *people_apply(moto_server, tmp_path / "baseline", zone, "--auto-approve"), env=ENV
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return comparable(world_state(moto_server, zone)), records(tmp_path / "baseline")


def test_a_kill_after_every_journal_record_then_apply_again_ends_as_the_uninterrupted_run(
    moto_server: MotoServer, tmp_path: Path, baseline: tuple[dict[str, Any], list[Any]]
) -> None:
    expected, journal = baseline
    for k in range(1, len(journal) + 1):
        zone = fresh(moto_server)
        argv = people_apply(moto_server, tmp_path / f"k{k}", zone, "--auto-approve")
        killed = run_cli(*argv, env={**ENV, KILL: str(k)})
        assert killed.returncode == -9, (k, killed.stdout, killed.stderr)
        resumed = run_cli(*argv, env=ENV)
        assert resumed.returncode == 0, (k, resumed.stdout, resumed.stderr)
        assert comparable(world_state(moto_server, zone)) == expected, (k, journal[k - 1])
