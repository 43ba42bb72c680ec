"""plans/people-cards.yaml: what it needs in three regions, how to run it,
and how to read back each region's state."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deployctl.testing.aws import ClientSource, around_now, code_zip, lambda_role, put_metrics
from deployctl.testing.worlds import ROOT, rds

if TYPE_CHECKING:
    from deployctl.testing.moto import MotoServer

PLAN = str(ROOT / "plans" / "people-cards.yaml")
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-1")
FN = "people-cards-api"
FLAGS = "/people-cards/prod/flags"
# The migration's commands are [python, scripts/...]: the interpreter running
# the tests must be the `python` they find.
ENV = {"PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}"}


def build(aws: ClientSource) -> str:
    """Version 1 behind alias live in each region, the new code in each
    region's bucket, the backfill function, the database and the hosted zone.
    Returns the zone id moto made up."""
    arn = lambda_role(aws)
    for region in REGIONS:
        s3 = aws.client("s3", region)
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
        lam = aws.client("lambda", region)
        code = {"ZipFile": code_zip("v1")}
        lam.create_function(
            FunctionName=FN, Runtime="python3.12", Role=arn, Handler="handler.main", Code=code
        )
        lam.publish_version(FunctionName=FN)
        lam.create_alias(FunctionName=FN, Name="live", FunctionVersion="1")
    aws.client("lambda", "us-east-1").create_function(
        FunctionName="people-cards-backfill",
        Runtime="python3.12",
        Role=arn,
        Handler="handler.main",
        Code={"ZipFile": code_zip("backfill")},
    )
    rds.build(aws)
    zone = aws.client("route53", "us-east-1").create_hosted_zone(
        Name="people-cards.example.com", CallerReference="people-cards"
    )
    return str(zone["HostedZone"]["Id"]).rsplit("/", 1)[-1]


def region_metrics(
    aws: ClientSource, region: str, times: Iterable[float], *, errors: float, duration: float
) -> None:
    """Invocations, Errors and Duration of version 2 in ``region``."""
    dims = {"FunctionName": FN, "Resource": f"{FN}:live", "ExecutedVersion": "2"}
    values = {"Invocations": 100.0, "Errors": errors, "Duration": duration}
    put_metrics(aws, "AWS/Lambda", dims, values, times, region)


def healthy(aws: ClientSource, **breaches: float) -> None:
    """Healthy version 2 everywhere around now, except ``region=error_count``
    breaches (``eu_west_1=20.0``)."""
    times = around_now()
    for region in REGIONS:
        errors = breaches.get(region.replace("-", "_"), 0.0)
        region_metrics(aws, region, times, errors=errors, duration=50.0)


def apply_argv(
    server: MotoServer, state: Path, zone: str, *extra: str, wait: str = "100ms"
) -> tuple[str, ...]:
    """``apply plans/people-cards.yaml`` against the server; ``wait`` is each
    region's canary bake."""
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
        f"canary_wait={wait}",
        "--var",
        f"monitor={wait}",
        "--var",
        "latency_stat=Maximum",
        "--var",
        f"hosted_zone_id={zone}",
        *extra,
    )


def aliases(aws: ClientSource) -> dict[str, tuple[str, dict[str, float]]]:
    """region -> (primary version, additional version weights) of alias live."""
    out = {}
    for region in REGIONS:
        got = aws.client("lambda", region).get_alias(FunctionName=FN, Name="live")
        weights = (got.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        out[region] = (got["FunctionVersion"], dict(weights))
    return out


def versions(aws: ClientSource) -> dict[str, list[str]]:
    """region -> the function's published versions."""
    out = {}
    for region in REGIONS:
        listed = aws.client("lambda", region).list_versions_by_function(FunctionName=FN)
        out[region] = [v["Version"] for v in listed["Versions"] if v["Version"] != "$LATEST"]
    return out


def flags(aws: ClientSource) -> dict[str, Any]:
    """flag name -> its JSON value, for every flag parameter under the path."""
    got = aws.client("ssm", "us-east-1").get_parameters_by_path(Path=FLAGS, Recursive=True)
    return {p["Name"].rsplit("/", 1)[-1]: json.loads(p["Value"]) for p in got["Parameters"]}


def records(aws: ClientSource, zone: str) -> dict[str, str]:
    """SetIdentifier -> value of the api record sets."""
    sets = aws.client("route53", "us-east-1").list_resource_record_sets(HostedZoneId=zone)
    return {
        r["SetIdentifier"]: r["ResourceRecords"][0]["Value"]
        for r in sets["ResourceRecordSets"]
        if r.get("SetIdentifier")
    }


def world_state(aws: ClientSource, zone: str) -> dict[str, Any]:
    """Everything the plan changes, read from AWS: the crash matrix compares it."""
    return {
        "aliases": aliases(aws),
        "versions": versions(aws),
        "flags": flags(aws),
        "records": sorted(records(aws, zone).items()),
        "snapshots": len(rds.snapshots(aws)),
    }
