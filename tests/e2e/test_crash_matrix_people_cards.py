"""The crash matrix on plans/people-cards.yaml against a moto server: the
apply is SIGKILLed at one point, then applied again.  Every time the final
AWS state (each region's alias and versions, the Route 53 records, the
flags, the snapshots) equals the uninterrupted run's: resume never repeats
a publish, a snapshot or a flag write wherever the cut falls.

The points: right after each journal record is durable and right after
each AWS call returned, one test each; the counts are committed and checked
against an uninterrupted run, as is the end state.  The world a kill at each
point leaves comes from one run paused there (:mod:`deployctl.testing.cuts`);
each test puts it back and applies again.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from deployctl.testing.cli import run_cli
from deployctl.testing.clock import SKIPPING
from deployctl.testing.crash import read_trace
from deployctl.testing.cuts import CutRuns, Cuts, grouped
from deployctl.testing.moto import MotoServer
from deployctl.testing.worlds import people

# What the uninterrupted run does: journal records, AWS calls, and of those
# the calls after its last record (the deployment metrics).  After a change
# to the plan, the executor or the actions, set them to what
# test_the_matrix_cuts_at_every_point finds.
RECORDS = 55
CALLS = 39
CALLS_AFTER_THE_RUN = 0
CUTS = [f"record:{k}" for k in range(1, RECORDS + 1)]
CUTS += [f"call:{k}" for k in range(1, CALLS - CALLS_AFTER_THE_RUN + 1)]
ON = {"allowlist": [], "enabled": True, "percentage": 100}
# The uninterrupted run's end state (people.world_state).
EXPECTED: dict[str, Any] = {
    "aliases": dict.fromkeys(people.REGIONS, ("2", {})),
    "versions": {region: ["1", "2"] for region in people.REGIONS},
    "flags": {
        "dual-write": ON,
        "new-cards-ui": {"allowlist": ["user1", "user2"], "enabled": True, "percentage": 50},
        "read-v2": ON,
    },
    "records": [
        ("ap-southeast-1", "people-cards-api.ap-southeast-1.example.com"),
        ("default", "people-cards-api.us-east-1.example.com"),
        ("eu-west-1", "people-cards-api.eu-west-1.example.com"),
        ("us-east-1", "people-cards-api.us-east-1.example.com"),
    ],
    # moto makes an automated snapshot with the instance; the run adds one.
    "snapshots": 2,
}


Paused = tuple[Cuts, tuple[str, ...], str]


def fresh(server: MotoServer) -> str:
    zone = server.world("people-cards", people.build)
    people.healthy(server)
    server.lambda_answers({"migrated": 1200}, {"migrated": 1200})
    return zone


def counts(trace: list[str]) -> dict[str, int]:
    last_record = max(n for n, line in enumerate(trace) if line.startswith("record "))
    return {
        "RECORDS": sum(line.startswith("record ") for line in trace),
        "CALLS": sum(line.startswith("call ") for line in trace),
        "CALLS_AFTER_THE_RUN": sum(line.startswith("call ") for line in trace[last_record:]),
    }


def test_the_matrix_cuts_at_every_point(moto_server: MotoServer, tmp_path: Path) -> None:
    zone = fresh(moto_server)
    argv = people.apply_argv(moto_server, tmp_path / "state", zone, "--auto-approve")
    done = run_cli(*argv, env=people.ENV, trace=tmp_path / "trace", clock=SKIPPING)
    assert done.returncode == 0, done.stdout + done.stderr
    assert people.world_state(moto_server, zone) == EXPECTED
    lines = read_trace(str(tmp_path / "trace"))
    expected = {"RECORDS": RECORDS, "CALLS": CALLS, "CALLS_AFTER_THE_RUN": CALLS_AFTER_THE_RUN}
    assert counts(lines) == expected, "\n".join(lines)


@pytest.fixture
def paused_run(moto_server: MotoServer, cut_runs: CutRuns) -> Paused:
    """The run paused at each point (made by the matrix's first test, as
    its setup): its cuts, argv and zone."""

    def paused(folder: Path) -> Paused:
        zone = fresh(moto_server)
        argv = people.apply_argv(moto_server, folder / "state", zone, "--auto-approve")
        cuts = Cuts(folder / "state", folder / "kept", moto_server)
        done = cuts.run(*argv, env=people.ENV, points=CUTS, clock=SKIPPING)
        assert done.returncode == 0, (done.stdout, done.stderr)
        return cuts, argv, zone

    made: Paused = cut_runs.get("people-cards", paused)
    return made


@pytest.mark.parametrize("crash", grouped("people-cards", CUTS))
def test_a_kill_at_any_point_then_apply_again_ends_as_the_uninterrupted_run(
    crash: str, moto_server: MotoServer, paused_run: Paused
) -> None:
    cuts, argv, zone = paused_run

    def again() -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
        resumed = run_cli(*argv, env=people.ENV, clock=SKIPPING)
        return resumed, people.world_state(moto_server, zone)

    cuts.restore(crash)
    resumed, world = cuts.apply_again(crash, again)
    assert resumed.returncode == 0, (resumed.stdout, resumed.stderr)
    assert world == EXPECTED
