"""plans/people-cards.yaml on a moto server: what it needs in three regions,
how to run it, and how to read back each region's state."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from e2e_helpers import ROOT, MotoServer, code_zip

PLAN = str(ROOT / "plans" / "people-cards.yaml")
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-1")
FN = "people-cards-api"
FLAGS = "/people-cards/prod/flags"
NAMESPACE = "Deployctl"
# The migration's commands are [python, scripts/...]: the interpreter running
# the tests must be the `python` they find.
ENV = {"PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}"}


def people_world(server: MotoServer) -> str:
    """Version 1 behind alias live in each region, the new code in each
    region's bucket, the backfill function, the database and the hosted zone.
    Returns the zone id moto made up."""
    role = server.client("iam").create_role(RoleName="fn-role", AssumeRolePolicyDocument="{}")
    arn = role["Role"]["Arn"]
    for region in REGIONS:
        s3 = server.client("s3", region)
        bucket = f"people-cards-artifacts-{region}"
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region}
            )
        s3.put_object(
            Bucket=bucket, Key="api/2024.01.20.zip", Body=code_zip("v2"), ChecksumAlgorithm="SHA256"
        )
        lam = server.client("lambda", region)
        code = {"ZipFile": code_zip("v1")}
        lam.create_function(
            FunctionName=FN, Runtime="python3.12", Role=arn, Handler="handler.main", Code=code
        )
        lam.publish_version(FunctionName=FN)
        lam.create_alias(FunctionName=FN, Name="live", FunctionVersion="1")
    server.client("lambda").create_function(
        FunctionName="people-cards-backfill",
        Runtime="python3.12",
        Role=arn,
        Handler="handler.main",
        Code={"ZipFile": code_zip("backfill")},
    )
    server.client("rds").create_db_instance(
        DBInstanceIdentifier="people-cards-prod",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="admin",
        MasterUserPassword="not-a-real-one-1",
        AllocatedStorage=20,
    )
    zone = server.client("route53").create_hosted_zone(
        Name="people-cards.example.com", CallerReference="people-cards"
    )
    return str(zone["HostedZone"]["Id"]).rsplit("/", 1)[-1]


def region_metrics(
    server: MotoServer,
    region: str,
    *,
    errors: float,
    duration: float,
    around: tuple[int, int] = (-60, 180),
) -> None:
    """Invocations, Errors and Duration of version 2 in ``region``, one point a
    second around now (see worlds.put_metrics for why both sides of now)."""
    dims = [
        {"Name": "FunctionName", "Value": FN},
        {"Name": "Resource", "Value": f"{FN}:live"},
        {"Name": "ExecutedVersion", "Value": "2"},
    ]
    now = int(time.time())
    values = {"Invocations": 100.0, "Errors": errors, "Duration": duration}
    data = [
        {
            "MetricName": name,
            "Value": value,
            "Dimensions": dims,
            "Timestamp": float(now + i),
        }
        for name, value in values.items()
        for i in range(*around)
    ]
    cw = server.client("cloudwatch", region)
    for n in range(0, len(data), 1000):
        cw.put_metric_data(Namespace="AWS/Lambda", MetricData=data[n : n + 1000])


def healthy(server: MotoServer, **breaches: float) -> None:
    """Healthy version 2 everywhere, except ``region=error_count`` breaches."""
    for region in REGIONS:
        errors = breaches.get(region.replace("-", "_"), 0.0)
        region_metrics(server, region, errors=errors, duration=50.0)


def people_apply(server: MotoServer, state: Path, zone: str, *extra: str) -> tuple[str, ...]:
    return (
        "apply",
        PLAN,
        "--endpoint-url",
        server.url,
        "--region",
        "us-east-1",
        "--state-dir",
        str(state),
        "--var",
        "canary_wait=1s",
        "--var",
        "latency_stat=Maximum",
        "--var",
        f"hosted_zone_id={zone}",
        *extra,
    )


def aliases(server: MotoServer) -> dict[str, tuple[str, dict[str, float]]]:
    """region -> (primary version, additional version weights) of alias live."""
    out = {}
    for region in REGIONS:
        got = server.client("lambda", region).get_alias(FunctionName=FN, Name="live")
        weights = (got.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        out[region] = (got["FunctionVersion"], dict(weights))
    return out


def versions(server: MotoServer) -> dict[str, list[str]]:
    out = {}
    for region in REGIONS:
        listed = server.client("lambda", region).list_versions_by_function(FunctionName=FN)
        out[region] = [v["Version"] for v in listed["Versions"] if v["Version"] != "$LATEST"]
    return out


def flags(server: MotoServer) -> dict[str, Any]:
    """flag name -> its JSON value, for every flag parameter under the path."""
    got = server.client("ssm").get_parameters_by_path(Path=FLAGS, Recursive=True)
    return {p["Name"].rsplit("/", 1)[-1]: json.loads(p["Value"]) for p in got["Parameters"]}


def records(server: MotoServer, zone: str) -> dict[str, str]:
    """SetIdentifier -> value of the api record sets."""
    sets = server.client("route53").list_resource_record_sets(HostedZoneId=zone)
    return {
        r["SetIdentifier"]: r["ResourceRecords"][0]["Value"]
        for r in sets["ResourceRecordSets"]
        if r.get("SetIdentifier")
    }


def snapshots(server: MotoServer) -> list[str]:
    got = server.client("rds").describe_db_snapshots(DBInstanceIdentifier="people-cards-prod")
    return sorted(s["DBSnapshotIdentifier"] for s in got["DBSnapshots"])


def world_state(server: MotoServer, zone: str) -> dict[str, Any]:
    """Everything the plan changes, read from AWS: the crash matrix compares it."""
    return {
        "aliases": aliases(server),
        "versions": versions(server),
        "flags": flags(server),
        "records": records(server, zone),
        "snapshots": len(snapshots(server)),
    }
