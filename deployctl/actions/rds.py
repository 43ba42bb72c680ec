"""RDS: the migration's restore point (``rds.snapshot``) and the seed's
point-in-time restore (``deployctl db restore``).

The snapshot name is derived from the step's idempotency token, so a resumed
run finds the snapshot it already asked for instead of taking a second one.
That also means every new run takes a new snapshot: the plan diff shows the
step as a change always, next to the latest manual snapshot of the database
(one ``DescribeDBSnapshots`` or ``DescribeDBClusterSnapshots`` call per 100
manual snapshots; automated ones are left out, so a nightly backup does not
make a reviewed plan stale).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from deployctl.core.kinds import StepKind
from deployctl.core.params import RdsSnapshotParams
from deployctl.core.plan import Step
from deployctl.core.ports import Action, Observation, Preview, Registry, ResourceState, StepRequest
from deployctl.errors import DeployctlError, UserError


class ClientFactory(Protocol):
    def client(self, service: str, region: str | None) -> Any: ...


def snapshot_name(source: str, token: str) -> str:
    """A valid RDS identifier: letters, digits, hyphens; starts with a letter."""
    clean = re.sub(r"[^A-Za-z0-9]+", "-", f"deployctl-{source}-{token}").strip("-")
    return clean[:255]


def _iso(value: Any) -> str:
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
    return str(value)


THIS_RUN = "(this run's)"  # the id of the snapshot a run would take, named by its token


def _snapshots_display(state: Mapping[str, Any]) -> str:
    latest = state["latest"]
    if latest is None:
        return "no manual snapshot"
    if latest["id"] == THIS_RUN:
        return "a new manual snapshot, this run's restore point (every run takes one)"
    return f"latest manual snapshot {latest['id']} ({latest['created'] or latest['status']})"


class Snapshot(Action):
    """Take a manual snapshot of an instance or a cluster and wait for it."""

    def __init__(self, clients: ClientFactory) -> None:
        self.clients = clients

    def _names(self, request: StepRequest) -> tuple[bool, str, str]:
        p = RdsSnapshotParams.from_params(request.params)
        source = str(p.cluster if p.cluster is not None else p.instance)
        return p.cluster is not None, source, snapshot_name(source, request.token)

    def _find(self, request: StepRequest) -> dict[str, Any] | None:
        rds = self.clients.client("rds", request.step.region)
        cluster, _, name = self._names(request)
        try:
            if cluster:
                found = rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=name)
                return dict(found["DBClusterSnapshots"][0])
            return dict(rds.describe_db_snapshots(DBSnapshotIdentifier=name)["DBSnapshots"][0])
        except (
            rds.exceptions.DBSnapshotNotFoundFault,
            rds.exceptions.DBClusterSnapshotNotFoundFault,
        ):
            return None

    def _outputs(self, snap: Mapping[str, Any], name: str) -> dict[str, Any]:
        created = snap.get("SnapshotCreateTime") or snap.get("ClusterCreateTime") or ""
        return {"snapshot_id": name, "restore_time": _iso(created)}

    # -- the plan diff: the database's latest manual snapshot ----------------------

    def resources(self, step: Step, params: Mapping[str, Any]) -> tuple[str, ...]:
        p = RdsSnapshotParams.from_params(params)
        if p.cluster is not None:
            return (f"rds-cluster-snapshots {step.region} {p.cluster}",)
        return (f"rds-instance-snapshots {step.region} {p.instance}",)

    def describe(self, step: Step, params: Mapping[str, Any], key: str) -> ResourceState:
        rds = self.clients.client("rds", step.region)
        p = RdsSnapshotParams.from_params(params)
        if p.cluster is not None:
            pages = rds.get_paginator("describe_db_cluster_snapshots").paginate(
                DBClusterIdentifier=p.cluster, SnapshotType="manual"
            )
            found = [s for page in pages for s in page["DBClusterSnapshots"]]
            ident = "DBClusterSnapshotIdentifier"
        else:
            pages = rds.get_paginator("describe_db_snapshots").paginate(
                DBInstanceIdentifier=p.instance, SnapshotType="manual"
            )
            found = [s for page in pages for s in page["DBSnapshots"]]
            ident = "DBSnapshotIdentifier"
        snaps = [
            {
                "id": s[ident],
                "created": _iso(s.get("SnapshotCreateTime") or ""),
                "status": s["Status"],
            }
            for s in found
        ]
        # One still being created has no time yet: it is the newest.
        snaps.sort(key=lambda s: (s["created"] or "~", s["id"]))
        state = {"latest": snaps[-1] if snaps else None}
        return ResourceState(key, state, _snapshots_display(state))

    def preview(self, step: Step, params: Mapping[str, Any], states: Mapping[str, Any]) -> Preview:
        key = self.resources(step, params)[0]
        after = {"latest": {"id": THIS_RUN, "created": "", "status": "available"}}
        return Preview(_snapshots_display(after), True, {key: after}, every_run=True)

    def observe(self, request: StepRequest) -> Observation:
        snap = self._find(request)
        if snap is None:
            return Observation(False, {}, "no snapshot for this step yet")
        _, _, name = self._names(request)
        return Observation(True, self._outputs(snap, name), f"snapshot {name} exists")

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        rds = self.clients.client("rds", request.step.region)
        cluster, source, name = self._names(request)
        if self._find(request) is None:
            tags = [{"Key": "deployctl:run", "Value": request.run_id}]
            if cluster:
                rds.create_db_cluster_snapshot(
                    DBClusterSnapshotIdentifier=name, DBClusterIdentifier=source, Tags=tags
                )
            else:
                rds.create_db_snapshot(
                    DBSnapshotIdentifier=name, DBInstanceIdentifier=source, Tags=tags
                )
        waiter = "db_cluster_snapshot_available" if cluster else "db_snapshot_available"
        key = "DBClusterSnapshotIdentifier" if cluster else "DBSnapshotIdentifier"
        rds.get_waiter(waiter).wait(**{key: name})
        snap = self._find(request)
        if snap is None:  # pragma: no cover - the waiter just saw it
            raise DeployctlError(f"snapshot {name} vanished")
        return self._outputs(snap, name)


def register(registry: Registry, clients: ClientFactory) -> None:
    registry.register(StepKind.RDS_SNAPSHOT, Snapshot(clients))


# --- point-in-time restore ------------------------------------------------------


@dataclass(frozen=True)
class RestorePlan:
    """What ``db restore`` will do; printed as is for ``--dry-run``."""

    cluster: bool
    source: str
    target: str
    time: datetime.datetime
    earliest: datetime.datetime | None
    latest: datetime.datetime | None

    def describe(self) -> str:
        kind = "cluster" if self.cluster else "instance"
        window = ""
        if self.earliest and self.latest:
            window = f" (restorable from {_iso(self.earliest)} to {_iso(self.latest)})"
        elif self.latest:
            window = f" (restorable up to {_iso(self.latest)})"
        return f"restore {kind} {self.source} as it was at {_iso(self.time)} into new {kind} {self.target}{window}"


def parse_time(text: str) -> datetime.datetime:
    """ISO 8601 with a zone (``2024-01-20T10:00:00Z``); naive times are refused."""
    try:
        value = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"--time {text!r}: expected ISO 8601 like 2024-01-20T10:00:00Z") from None
    if value.tzinfo is None:
        raise UserError(f"--time {text!r}: give a zone, e.g. 2024-01-20T10:00:00Z")
    return value.astimezone(datetime.UTC)


def plan_restore(
    clients: ClientFactory,
    region: str | None,
    *,
    source: str,
    cluster: bool,
    time: datetime.datetime,
    target: str | None,
) -> RestorePlan:
    """Check the source exists and the time is restorable; name the new database."""
    rds = clients.client("rds", region)
    stamp = time.strftime("%Y%m%d%H%M%S")
    target = target or f"{source}-restored-{stamp}"[:63]
    try:
        if cluster:
            found = rds.describe_db_clusters(DBClusterIdentifier=source)["DBClusters"][0]
        else:
            found = rds.describe_db_instances(DBInstanceIdentifier=source)["DBInstances"][0]
    except (rds.exceptions.DBInstanceNotFoundFault, rds.exceptions.DBClusterNotFoundFault):
        raise UserError(
            f"no {'cluster' if cluster else 'instance'} named {source!r} in {region or 'the default region'}"
        ) from None
    earliest = found.get("EarliestRestorableTime")
    latest = found.get("LatestRestorableTime")
    if latest and time > latest:
        raise UserError(f"--time {_iso(time)} is after the latest restorable time {_iso(latest)}")
    if earliest and time < earliest:
        raise UserError(
            f"--time {_iso(time)} is before the earliest restorable time {_iso(earliest)}"
        )
    return RestorePlan(cluster, source, target, time, earliest, latest)


def restore(clients: ClientFactory, region: str | None, plan: RestorePlan) -> str:
    """Start the restore; returns the new database's identifier."""
    rds = clients.client("rds", region)
    # Tags say where a restored database came from, long after the terminal is gone.
    tags = [
        {"Key": "deployctl:restored-from", "Value": plan.source},
        {"Key": "deployctl:restore-time", "Value": _iso(plan.time)},
    ]
    if plan.cluster:
        made = rds.restore_db_cluster_to_point_in_time(
            DBClusterIdentifier=plan.target,
            SourceDBClusterIdentifier=plan.source,
            RestoreToTime=plan.time,
        )["DBCluster"]
        arn = made["DBClusterArn"]
    else:
        made = rds.restore_db_instance_to_point_in_time(
            SourceDBInstanceIdentifier=plan.source,
            TargetDBInstanceIdentifier=plan.target,
            RestoreTime=plan.time,
        )["DBInstance"]
        arn = made["DBInstanceArn"]
    rds.add_tags_to_resource(ResourceName=arn, Tags=tags)
    return plan.target
