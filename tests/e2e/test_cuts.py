"""The crash matrices' paused runs (deployctl/testing/cuts.py) give each
point its own world: the matrices would pass without testing anything if
every cut put back the end of the run, so these check that a cut holds what
a kill there leaves and nothing after it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from deployctl.testing.aws import around_now
from deployctl.testing.cli import run_cli, run_fake
from deployctl.testing.crash import read_trace
from deployctl.testing.cuts import CutRuns, Cuts, grouped
from deployctl.testing.fake import HEALTHY, applies, new_world
from deployctl.testing.moto import MotoServer
from deployctl.testing.worlds import fraud
from deployctl.testing.worlds.fraud import PLAN

FAST = ["--var", "stage1=1m", "--var", "stage2=1m", "--var", "stage3=1m"]


def fresh(server: MotoServer) -> None:
    server.world("fraud-or-not", fraud.build)
    server.lambda_answers({"statusCode": 200})
    fraud.metrics(server, around_now(), errors=0.0, duration=120.0)


def records(workdir: Path) -> int:
    status = run_fake(workdir, "status", "--format", "json")
    assert status.returncode == 0, status.stderr
    return int(json.loads(status.stdout)["records"])


def test_each_cut_of_a_fake_world_run_holds_the_journal_and_world_of_its_point(
    tmp_path: Path,
) -> None:
    workdir = new_world(tmp_path / "world", HEALTHY)
    cuts = Cuts(workdir, tmp_path / "kept")
    done = cuts.run(
        "apply",
        PLAN,
        *FAST,
        points=["record:*", "apply:*"],
        cwd=workdir,
        fake_world=workdir / "world.json",
    )
    assert done.returncode == 0, done.stderr
    total = records(workdir)
    changes = sum(applies(workdir).values())
    assert set(cuts.cuts) == {f"record:{k}" for k in range(1, total + 1)} | {
        f"apply:{k}" for k in range(1, changes + 1)
    }
    for k in (1, total // 2, total):
        cuts.restore(f"record:{k}")
        # A parallel step may journal one more before the stop lands.
        assert k <= records(workdir) <= k + 1
    for k in (1, changes):
        cuts.restore(f"apply:{k}")
        assert k <= sum(applies(workdir).values()) <= k + 1
    # The first cut is before anything was journaled beyond it.
    cuts.restore("record:1")
    assert records(workdir) < total


def test_a_cut_puts_back_moto_as_it_was_at_that_call_and_one_world_is_applied_again_once(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    fresh(moto_server)
    trace = tmp_path / "trace"
    done = run_cli(*fraud.apply_argv(moto_server, tmp_path / "traced"), trace=trace)
    assert done.returncode == 0, done.stderr
    lines = read_trace(str(trace))
    calls = [line.split()[1] for line in lines if line.startswith("call ")]
    publish = calls.index("PublishVersion") + 1  # 1-based, as the points count
    assert calls[publish] == "GetAlias"  # a read, before the publish's done record
    # Two records in a row after the publish (its done record, the next
    # step's intent): no request between them.
    after = lines.index("call PublishVersion")
    first = next(
        n
        for n in range(after, len(lines) - 1)
        if lines[n].startswith("record ") and lines[n + 1].startswith("record ")
    )
    record = sum(line.startswith("record ") for line in lines[: first + 1])
    pair = [f"record:{record}", f"record:{record + 1}"]

    fresh(moto_server)
    state = tmp_path / "state"
    cuts = Cuts(state, tmp_path / "kept", moto_server)
    points = [f"call:{publish - 1}", f"call:{publish}", f"call:{publish + 1}"]
    done = cuts.run(*fraud.apply_argv(moto_server, state), points=[*points, *pair])
    assert done.returncode == 0, done.stderr
    assert fraud.published(moto_server) == ["1", "2"]  # the run went on to the end
    # No request was answered between the two records: one copy of moto's
    # state serves both cuts.  A call between two cuts makes a new one.
    assert cuts.cuts[pair[0]].world is cuts.cuts[pair[1]].world
    assert cuts.cuts[points[1]].world is not cuts.cuts[points[2]].world

    cuts.restore(f"call:{publish - 1}")
    assert fraud.published(moto_server) == ["1"]
    cuts.restore(f"call:{publish}")
    assert fraud.published(moto_server) == ["1", "2"]
    assert fraud.alias(moto_server) == ("1", {})  # not yet moved
    # AWS published; the journal holds the intent and not yet the done record.
    with sqlite3.connect(state / "journal.sqlite") as db:
        rows = db.execute("SELECT type, step_id FROM records WHERE step_id LIKE '%publish'")
        assert [kind for kind, _ in rows] == ["intent"]

    # The read after the publish left the world as the publish did: one
    # fingerprint, one apply.  The publish itself changed it: two.
    before, published, read = (cuts.cuts[p].fingerprint() for p in points)
    assert published is not None and read == published != before
    applied: list[list[str]] = []

    def again() -> int:
        applied.append(fraud.published(moto_server))
        return len(applied)

    outcomes = []
    for point in points:
        cuts.restore(point)
        outcomes.append(cuts.apply_again(point, again))
    assert outcomes == [1, 2, 2]
    assert applied == [["1"], ["1", "2"]]
    with pytest.raises(AssertionError, match="before restore"):
        cuts.apply_again(points[0], again)  # once per restore


def test_a_matrix_s_points_are_one_xdist_group() -> None:
    params = grouped("m", ["record:1", ("ecs", "call:1")])
    assert [p.values for p in params] == [("record:1",), ("ecs", "call:1")]
    assert [mark.args for p in params for mark in p.marks] == [("m",), ("m",)]


def test_a_paused_run_made_by_two_test_processes_fails_the_second(tmp_path: Path) -> None:
    folders = iter(range(10))

    def tmp(name: str) -> Path:
        folder = tmp_path / f"{name}{next(folders)}"
        folder.mkdir()
        return folder

    claims = tmp_path / "claims"
    claims.mkdir()
    mine, theirs = CutRuns(tmp, claims), CutRuns(tmp, claims)
    made: list[Path] = []
    assert mine.get(("m", "record:1"), made.append) is None
    assert mine.get(("m", "record:1"), made.append) is None  # made once here
    assert theirs.get(("m", "call:1"), made.append) is None  # another group: fine
    with pytest.raises(AssertionError, match="another test process"):
        theirs.get(("m", "record:1"), made.append)
    assert len(made) == 2
