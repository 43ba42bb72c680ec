"""`deployctl db restore` as a subprocess against a moto server."""

from __future__ import annotations

from deployctl.testing.cli import run_cli
from deployctl.testing.moto import MotoServer
from deployctl.testing.worlds import rds as rds_world


def test_restore_creates_the_instance_at_the_requested_time(moto_server: MotoServer) -> None:
    rds_world.build(moto_server)
    done = run_cli(
        "db",
        "restore",
        "--instance",
        "people-cards-prod",
        "--time",
        "2024-01-20T10:00:00Z",
        "--endpoint-url",
        moto_server.url,
        "--region",
        "us-east-1",
    )
    assert done.returncode == 0, done.stderr
    rds = moto_server.client("rds")
    made = rds.describe_db_instances(
        DBInstanceIdentifier="people-cards-prod-restored-20240120100000"
    )["DBInstances"][0]
    tags = {
        t["Key"]: t["Value"]
        for t in rds.list_tags_for_resource(ResourceName=made["DBInstanceArn"])["TagList"]
    }
    assert tags["deployctl:restore-time"] == "2024-01-20T10:00:00Z"
    assert "people-cards-prod-restored-20240120100000 is being created" in done.stdout


def test_dry_run_changes_nothing(moto_server: MotoServer) -> None:
    rds_world.build(moto_server)
    done = run_cli(
        "db",
        "restore",
        "--instance",
        "people-cards-prod",
        "--time",
        "2024-01-20T10:00:00+01:00",
        "--target",
        "pc-check",
        "--dry-run",
        "--endpoint-url",
        moto_server.url,
        "--region",
        "us-east-1",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(
        "would restore instance people-cards-prod as it was at 2024-01-20T09:00:00Z into new instance pc-check"
        " (restorable up to "
    )
    assert len(moto_server.client("rds").describe_db_instances()["DBInstances"]) == 1


def test_unknown_instance_is_one_line_exit_1(moto_server: MotoServer) -> None:
    done = run_cli(
        "db",
        "restore",
        "--instance",
        "ghost",
        "--time",
        "2024-01-20T10:00:00Z",
        "--endpoint-url",
        moto_server.url,
        "--region",
        "us-east-1",
    )
    assert done.returncode == 1
    assert done.stderr.strip() == "deployctl: error: no instance named 'ghost' in us-east-1"
