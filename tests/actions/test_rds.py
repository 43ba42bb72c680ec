"""rds.snapshot and point-in-time restore against moto."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from deployctl.actions.rds import Snapshot, parse_time, plan_restore, restore
from deployctl.core.plan import Step
from deployctl.core.ports import Preview, ResourceState, StepRequest
from deployctl.errors import UserError
from deployctl.testing.clock import VirtualClock
from deployctl.testing.worlds import rds


class Clients:
    def __init__(self) -> None:
        self.rds = boto3.Session(region_name="us-east-1").client("rds")

    def client(self, service: str, region: str | None) -> Any:
        assert service == "rds"
        return self.rds


@pytest.fixture
def clients() -> Iterator[Clients]:
    with mock_aws():
        made = Clients()
        rds.build(made, aurora=True)
        yield made


def request(params: dict[str, str], token: str = "tok-1") -> StepRequest:
    step = Step("us-east-1/migration/snapshot", "rds.snapshot", "snap", params, region="us-east-1")
    return StepRequest(step, params, "run-1", 1, token, VirtualClock())


def test_snapshot_is_taken_once_per_step(clients: Clients) -> None:
    action = Snapshot(clients)
    req = request({"instance": "people-cards-prod"})
    assert not action.observe(req).applied
    first = action.apply(req)
    second = action.apply(req)
    assert first == second
    assert first["snapshot_id"].startswith("deployctl-people-cards-prod-tok-1")
    assert first["restore_time"].endswith("Z")
    manual = clients.rds.describe_db_snapshots(
        DBInstanceIdentifier="people-cards-prod", SnapshotType="manual"
    )
    assert len(manual["DBSnapshots"]) == 1
    assert action.observe(req).outputs == first


def test_cluster_snapshot(clients: Clients) -> None:
    outputs = Snapshot(clients).apply(request({"cluster": "people-cards-aurora"}, token="t2"))
    found = clients.rds.describe_db_cluster_snapshots(
        DBClusterSnapshotIdentifier=outputs["snapshot_id"]
    )
    assert found["DBClusterSnapshots"][0]["DBClusterIdentifier"] == "people-cards-aurora"


def diff(action: Snapshot, req: StepRequest) -> tuple[ResourceState, Preview]:
    (key,) = action.resources(req.step, req.params)
    state = action.describe(req.step, req.params, key)
    return state, action.preview(req.step, req.params, {key: state.state})


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"instance": "people-cards-prod"}, "rds-instance-snapshots us-east-1 people-cards-prod"),
        ({"cluster": "people-cards-aurora"}, "rds-cluster-snapshots us-east-1 people-cards-aurora"),
    ],
)
def test_the_diff_shows_the_latest_manual_snapshot_and_always_a_new_one(
    clients: Clients, params: dict[str, str], key: str
) -> None:
    action = Snapshot(clients)
    state, preview = diff(action, request(params, token="run-1"))
    # moto takes an automated snapshot of a new instance: not a restore point of ours.
    assert (state.key, state.state, state.display) == (key, {"latest": None}, "no manual snapshot")
    assert preview.changes
    assert preview.after == "a new manual snapshot, this run's restore point (every run takes one)"

    first = action.apply(request(params, token="run-1"))
    state, preview = diff(action, request(params, token="run-2"))
    assert state.state["latest"]["id"] == first["snapshot_id"]
    assert state.display.startswith(f"latest manual snapshot {first['snapshot_id']} (20")
    assert preview.changes  # the next run takes its own


def test_the_diff_reads_the_snapshots_in_one_call(clients: Clients) -> None:
    seen: list[str] = []
    clients.rds.meta.events.register(
        "before-call.rds.*", lambda model, **_: seen.append(model.name)
    )
    diff(Snapshot(clients), request({"instance": "people-cards-prod"}))
    assert seen == ["DescribeDBSnapshots"]


def test_point_in_time_restore_creates_a_new_instance_tagged_with_the_time(
    clients: Clients,
) -> None:
    when = parse_time("2024-01-20T10:00:00Z")
    plan = plan_restore(
        clients, "us-east-1", source="people-cards-prod", cluster=False, time=when, target=None
    )
    assert plan.target == "people-cards-prod-restored-20240120100000"
    assert plan.describe().startswith(
        "restore instance people-cards-prod as it was at 2024-01-20T10:00:00Z into new instance people-cards-prod-restored-20240120100000"
    )
    assert restore(clients, "us-east-1", plan) == plan.target
    made = clients.rds.describe_db_instances(DBInstanceIdentifier=plan.target)["DBInstances"][0]
    tags = {
        t["Key"]: t["Value"]
        for t in clients.rds.list_tags_for_resource(ResourceName=made["DBInstanceArn"])["TagList"]
    }
    assert tags == {
        "deployctl:restored-from": "people-cards-prod",
        "deployctl:restore-time": "2024-01-20T10:00:00Z",
    }


def test_restore_refuses_unknown_sources_and_bad_times(clients: Clients) -> None:
    when = datetime.datetime(2024, 1, 20, tzinfo=datetime.UTC)
    with pytest.raises(UserError, match="no instance named 'nope' in us-east-1"):
        plan_restore(clients, "us-east-1", source="nope", cluster=False, time=when, target=None)
    with pytest.raises(UserError, match="give a zone"):
        parse_time("2024-01-20T10:00:00")
    with pytest.raises(UserError, match="expected ISO 8601"):
        parse_time("yesterday")
