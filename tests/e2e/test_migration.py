"""The people-cards migration on a moto server: snapshot -> dual_write ->
backfill (a Lambda) -> validate (plans/scripts/validate_people_cards.py) ->
switch_read, then the cleanup's approval; and a validate that fails rolls
the flags back to what they were."""

from __future__ import annotations

import json
import re
from pathlib import Path

from deployctl.testing.cli import run_cli
from deployctl.testing.moto import MotoServer
from deployctl.testing.worlds import people, rds

ON = {"allowlist": [], "enabled": True, "percentage": 100}


def run_id(stdout: str) -> str:
    found = re.search(r"run (\S+) is waiting", stdout)
    assert found, stdout
    return found.group(1)


def test_the_migration_runs_to_switch_read_then_waits_at_the_one_way_door(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    zone = people.build(moto_server)
    people.healthy(moto_server)
    moto_server.lambda_answers({"migrated": 1200})
    counts = tmp_path / "counts.json"
    counts.write_text(json.dumps({"v1": 1200, "v2": 1200}), encoding="utf-8")
    log = tmp_path / "cleanup.log"
    env = {**people.ENV, "PEOPLE_CARDS_COUNTS": str(counts), "PEOPLE_CARDS_CLEANUP_LOG": str(log)}
    state = tmp_path / "state"
    paused = run_cli(*people.apply_argv(moto_server, state, zone), env=env)
    assert paused.returncode == 6, paused.stdout + paused.stderr
    assert "us-east-1/migration/approve-cleanup" in paused.stdout
    # The restore point exists, both phases' flags are on, nothing was dropped.
    (snap,) = [
        s for s in rds.snapshots(moto_server) if s.startswith("deployctl-people-cards-prod-")
    ]
    assert people.flags(moto_server) == {"dual-write": ON, "read-v2": ON}
    assert not log.exists()
    rid = run_id(paused.stdout)
    common = ("--state-dir", str(state), "--endpoint-url", moto_server.url)
    approved = run_cli("approve", rid, *common, env=env)
    assert approved.returncode == 0, approved.stderr
    done = run_cli("resume", rid, *common, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert log.read_text(encoding="utf-8") == "dropped cards_v1\n"
    assert rds.snapshots(moto_server).count(snap) == 1


def test_a_failing_validate_rolls_the_flags_back_and_keeps_the_release(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    zone = people.build(moto_server)
    people.healthy(moto_server)
    moto_server.lambda_answers({"migrated": 1100})
    counts = tmp_path / "counts.json"
    counts.write_text(json.dumps({"v1": 1200, "v2": 1100}), encoding="utf-8")
    done = run_cli(
        *people.apply_argv(moto_server, tmp_path / "state", zone, "--auto-approve"),
        env={**people.ENV, "PEOPLE_CARDS_COUNTS": str(counts)},
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert "v2 has 1100 cards, v1 has 1200: 100 missing" in done.stdout
    assert "undone us-east-1/migration/dual_write" in done.stdout
    # dual-write did not exist before the run: its parameter is gone again,
    # and read-v2 was never switched on.
    assert people.flags(moto_server) == {}
    # The migration failed, not the release: every region keeps version 2.
    assert people.aliases(moto_server) == dict.fromkeys(people.REGIONS, ("2", {}))
    # The restore point stays for `deployctl db restore`.
    assert any(s.startswith("deployctl-people-cards-prod-") for s in rds.snapshots(moto_server))
