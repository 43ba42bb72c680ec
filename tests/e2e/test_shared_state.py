"""``--state-dir dynamodb://TABLE``: a real ``python -m deployctl`` on one
"machine" (working directory) is SIGKILLed mid-canary and the run is finished
by another working directory through the shared table; a second apply while
the first holds the lock exits 4; status, runs and unlock read the table."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from deployctl.actions.aws import Clients
from deployctl.actions.dynamo_state import DynamoStore
from deployctl.testing.cli import run_cli
from deployctl.testing.fake import HEALTHY
from deployctl.testing.moto import MotoServer
from deployctl.testing.worlds.fraud import PLAN

FAST = ["--var", "stage1=1m", "--var", "stage2=1m", "--var", "stage3=1m"]
STATE = "dynamodb://deployctl-state?region=us-east-1"


def shared_table(server: MotoServer) -> None:
    server.client("dynamodb").create_table(
        TableName="deployctl-state",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def machine(base: Path, name: str, world: Path) -> tuple[Path, dict[str, Path]]:
    """A working directory of its own, deploying to the shared fake ``world``."""
    workdir = base / name
    workdir.mkdir()
    return workdir, {"fake_world": world}


def applies(world: Path) -> Counter[str]:
    log = json.loads(world.read_text(encoding="utf-8")).get("log", [])
    return Counter(e["step"] for e in log if e["op"] == "apply")


def test_a_run_killed_on_one_machine_is_finished_from_another_through_the_table(
    moto_server, tmp_path
):
    shared_table(moto_server)
    world = tmp_path / "world.json"  # the "AWS" both machines deploy to
    world.write_text(json.dumps(HEALTHY), encoding="utf-8")
    common = ["--state-dir", STATE, "--endpoint-url", moto_server.url, *FAST]

    first, env = machine(tmp_path, "runner-1", world)
    killed = run_cli("apply", PLAN, *common, cwd=first, crash="record:9", **env)
    assert killed.returncode == -9, killed.stdout + killed.stderr
    done_before = sum(applies(world).values())
    assert done_before >= 1

    second, env = machine(tmp_path, "runner-2", world)
    resumed = run_cli("apply", PLAN, *common, cwd=second, **env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "took over expired lock" in resumed.stdout  # the killed pid is gone on this host
    assert set(applies(world).values()) == {1}, applies(world)  # nothing sent twice

    listed = run_cli("runs", *common, cwd=second, **env)
    assert listed.returncode == 0 and listed.stdout.count("succeeded") == 1, listed.stdout
    status = json.loads(run_cli("status", "--format", "json", *common, cwd=first, **env).stdout)
    assert status["run"]["status"] == "succeeded"
    # Neither machine has a local journal: it all lives in the table.
    assert not (first / ".deployctl").exists() and not (second / ".deployctl").exists()


def test_a_second_machine_gets_exit_4_while_another_holds_the_lock_until_unlocked(
    moto_server, tmp_path
):
    shared_table(moto_server)
    world = tmp_path / "world.json"
    world.write_text(json.dumps(HEALTHY), encoding="utf-8")
    # A live apply on another CI machine, as it sits in the table.
    elsewhere = DynamoStore(
        "deployctl-state",
        clients=Clients(session=moto_server.session, endpoint_url=moto_server.url),
    )
    elsewhere.lock("fraud-or-not/prod", "ci@other-runner", 4242).acquire("20240101-000000-abcdef")
    common = ["--state-dir", STATE, "--endpoint-url", moto_server.url]
    here, env = machine(tmp_path, "runner-2", world)

    refused = run_cli("apply", PLAN, *common, *FAST, cwd=here, **env)
    assert refused.returncode == 4, refused.stdout + refused.stderr
    assert "lock fraud-or-not/prod is held by ci@other-runner (pid 4242) for run " in refused.stderr
    assert "deployctl unlock fraud-or-not/prod" in refused.stderr
    assert applies(world) == Counter()

    freed = run_cli("unlock", "fraud-or-not/prod", *common, cwd=here, **env)
    assert freed.returncode == 0, freed.stderr
    assert freed.stdout.startswith("unlocked fraud-or-not/prod: ci@other-runner (pid 4242)")
    assert run_cli("apply", PLAN, *common, *FAST, cwd=here, **env).returncode == 0
