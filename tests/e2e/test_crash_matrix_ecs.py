"""The crash matrix of the ECS examples: ``deployctl apply`` of
plans/media-register-ecs.yaml (task sets) and
plans/media-register-ecs-services.yaml (a service per colour) against a
moto server, SIGKILLed at one point, then applied again against the same
server.  Each shape runs twice: with healthy metrics (the run promotes)
and with a 50% error rate (the canary's first analysis breaches and the
run rolls back).

The points: right after each journal record is durable, and right after
each AWS call that changes something returned (before the executor could
journal it: the revision registered, the task set created, the service
updated, the listener moved, the primary switched, the old task set
deleted, and the undo of each).  A kill right after a *read* leaves AWS
and the journal exactly as the record before it did (the process's memory
dies either way), so those cuts would repeat a record's cut.

Every time: a healthy run ends with green serving the new version alone,
one revision registered, no task set or service left half done; a
breaching run ends rolled back to exactly the world before it (the old
task set primary and alone, or the green service back on the old revision
with no tasks), the one revision it registered kept.

One test per point, so a failure names it; the counts are committed and
checked against an uninterrupted run (after a change to the plans, the
executor or the actions, set them to what test_the_matrix_cuts_where_it_says
finds).  The world a kill at each point leaves comes from one run paused
there (:mod:`deployctl.testing.cuts`); each test puts it back and applies
again (once per distinct world: the first of two records one commit wrote
leaves the world the second does, and they share an apply).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from deployctl.actions.aws import mutating
from deployctl.testing.aws import around_now
from deployctl.testing.cli import run_cli
from deployctl.testing.clock import SKIPPING
from deployctl.testing.crash import read_trace
from deployctl.testing.cuts import CutRuns, Cuts, grouped
from deployctl.testing.moto import MotoServer
from deployctl.testing.worlds import ecs, media

# Per (shape, outcome) of an uninterrupted run: its journal records, and its
# AWS calls that change something as (position among all its calls, operation).
COUNTS: dict[tuple[str, str], dict[str, Any]] = {
    ("task-sets", "promoted"): {
        "RECORDS": 21,
        "WRITES": [
            [4, "RegisterTaskDefinition"],
            [8, "CreateTaskSet"],
            [15, "ModifyListener"],
            [21, "ModifyListener"],
            [26, "UpdateServicePrimaryTaskSet"],
            [30, "DeleteTaskSet"],
        ],
    },
    ("services", "promoted"): {
        "RECORDS": 17,
        "WRITES": [
            [5, "RegisterTaskDefinition"],
            [9, "UpdateService"],
            [16, "ModifyListener"],
            [22, "ModifyListener"],
        ],
    },
    ("task-sets", "rolled-back"): {
        "RECORDS": 16,
        "WRITES": [
            [4, "RegisterTaskDefinition"],
            [8, "CreateTaskSet"],
            [15, "ModifyListener"],
            [20, "ModifyListener"],
            [24, "DeleteTaskSet"],
        ],
    },
    ("services", "rolled-back"): {
        "RECORDS": 16,
        "WRITES": [
            [5, "RegisterTaskDefinition"],
            [9, "UpdateService"],
            [16, "ModifyListener"],
            [21, "ModifyListener"],
            [25, "UpdateService"],
        ],
    },
}
# Each (shape, outcome)'s cuts, and all of them as test params (grouped by
# shape and outcome: a group's tests share one paused run).
POINTS = {
    run: [
        *(f"record:{k}" for k in range(1, counts["RECORDS"] + 1)),
        *(f"call:{k}" for k, _ in counts["WRITES"]),
    ]
    for run, counts in COUNTS.items()
}
CUTS = [
    param
    for (shape, outcome), points in POINTS.items()
    for param in grouped(f"ecs-{shape}-{outcome}", [(shape, outcome, point) for point in points])
]
EXIT = {"promoted": 0, "rolled-back": 3}


def fresh(server: MotoServer, shape: str, outcome: str) -> dict[str, str]:
    arns = server.world(f"media-register-{shape}", lambda aws: ecs.build(aws, shape))
    errors = 50.0 if outcome == "rolled-back" else 0.0
    ecs.metrics(server, arns, around_now(), errors=errors)
    return arns


def argv_of(server: MotoServer, tmp_path: Path, arns: dict[str, str], shape: str) -> list[str]:
    return list(ecs.apply_argv(server, tmp_path / "state", arns, shape))


def counts(trace: list[str]) -> dict[str, Any]:
    calls = [line.split(" ", 1)[1] for line in trace if line.startswith("call ")]
    return {
        "RECORDS": sum(line.startswith("record ") for line in trace),
        "WRITES": [[k, op] for k, op in enumerate(calls, start=1) if mutating(op)],
    }


def journaled(state: Path) -> int:
    with sqlite3.connect(state / "journal.sqlite") as db:
        return int(db.execute("SELECT count(*) FROM records").fetchone()[0])


def ends(server: MotoServer, arns: dict[str, str], shape: str, outcome: str) -> None:
    """The world as the uninterrupted run leaves it; one revision registered either way."""
    assert sorted(ecs.images(server)) == ["media-register:1", "media-register:2"]
    if outcome == "promoted":
        assert media.weights(server, arns) == {"blue": 0, "green": 100}
        if shape == "task-sets":
            assert ecs.task_sets(server, arns) == [("PRIMARY", "media-register:2", "green")]
        else:
            assert ecs.services(server) == {
                "blue": ("media-register:1", 2),
                "green": ("media-register:2", 2),
            }
        return
    assert media.weights(server, arns) == {"blue": 100, "green": 0}
    if shape == "task-sets":
        assert ecs.task_sets(server, arns) == [("PRIMARY", "media-register:1", "blue")]
    else:
        assert ecs.services(server) == {
            "blue": ("media-register:1", 2),
            "green": ("media-register:1", 0),
        }


@pytest.mark.parametrize(("shape", "outcome"), COUNTS)
def test_the_matrix_cuts_where_it_says(
    shape: str, outcome: str, moto_server: MotoServer, tmp_path: Path
) -> None:
    arns = fresh(moto_server, shape, outcome)
    trace = tmp_path / "trace"
    done = run_cli(*argv_of(moto_server, tmp_path, arns, shape), trace=trace, clock=SKIPPING)
    assert done.returncode == EXIT[outcome], done.stdout + done.stderr
    ends(moto_server, arns, shape, outcome)
    lines = read_trace(str(trace))
    assert counts(lines) == COUNTS[(shape, outcome)], "\n".join(lines)


Paused = tuple[Cuts, list[str], dict[str, str]]


@pytest.fixture
def paused_run(shape: str, outcome: str, moto_server: MotoServer, cut_runs: CutRuns) -> Paused:
    """The run of one shape and outcome, paused at each of its points (made
    by its first test, as that test's setup): its cuts, argv and ARNs."""
    points = POINTS[(shape, outcome)]

    def paused(folder: Path) -> Paused:
        arns = fresh(moto_server, shape, outcome)
        argv = argv_of(moto_server, folder, arns, shape)
        cuts = Cuts(folder / "state", folder / "kept", moto_server)
        done = cuts.run(*argv, points=points, clock=SKIPPING)
        assert done.returncode == EXIT[outcome], (done.stdout, done.stderr)
        return cuts, argv, arns

    made: Paused = cut_runs.get(("ecs", shape, outcome), paused)
    return made


@pytest.mark.parametrize(("shape", "outcome", "crash"), CUTS)
def test_a_kill_at_any_point_then_apply_again_ends_as_an_uninterrupted_run(
    shape: str, outcome: str, crash: str, moto_server: MotoServer, paused_run: Paused
) -> None:
    cuts, argv, arns = paused_run

    def again() -> None:
        done = run_cli(*argv, clock=SKIPPING)
        assert done.returncode == EXIT[outcome], (done.stdout, done.stderr)
        ends(moto_server, arns, shape, outcome)

    cuts.restore(crash)
    if crash.startswith("record:"):
        assert journaled(cuts.folder) >= int(crash.split(":")[1])
    cuts.apply_again(crash, again)
