"""What the example plans need in AWS, built with boto3 on the moto server, and
how the end-to-end tests read the result back."""

from __future__ import annotations

import datetime
import time
from pathlib import Path

from e2e_helpers import ROOT, MotoServer, code_zip

REGION = "us-east-1"
FRAUD = str(ROOT / "plans" / "fraud-or-not.yaml")
MEDIA = str(ROOT / "plans" / "media-register.yaml")
FN = "api-handler"
# moto computes no percentiles (and fails GetMetricData when a p99 series
# has data): the plans' Latency statistic is a var for this.
MOTO_VARS = ("--var", "latency_stat=Maximum")


def _utc(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)


def put_metrics(
    server: MotoServer,
    namespace: str,
    dimensions: dict[str, str],
    values: dict[str, float],
    around: tuple[int, int] = (-60, 120),
) -> None:
    """One datapoint a second for each metric, from ``around[0]`` to
    ``around[1]`` seconds from now.  Gate windows start at the period (minute)
    boundary before the gate began and end at the check, so points on both
    sides of now keep every window of a short run fed, whenever it starts."""
    dims = [{"Name": k, "Value": v} for k, v in dimensions.items()]
    now = int(time.time())
    data = [
        {"MetricName": name, "Value": value, "Dimensions": dims, "Timestamp": _utc(now + i)}
        for name, value in values.items()
        for i in range(*around)
    ]
    cw = server.client("cloudwatch")
    for n in range(0, len(data), 1000):
        cw.put_metric_data(Namespace=namespace, MetricData=data[n : n + 1000])


# --- fraud-or-not: a Lambda alias ------------------------------------------------


def lambda_world(server: MotoServer) -> None:
    """api-handler version 1 behind alias live, and the new code in S3."""
    iam = server.client("iam")
    role = iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    s3 = server.client("s3")
    s3.create_bucket(Bucket="fraud-or-not-artifacts")
    # With a SHA-256 checksum, plan can tell whether the live code is this artifact.
    s3.put_object(
        Bucket="fraud-or-not-artifacts",
        Key="api-handler/2024.01.20.zip",
        Body=code_zip("v2"),
        ChecksumAlgorithm="SHA256",
    )
    lam = server.client("lambda")
    lam.create_function(
        FunctionName=FN,
        Runtime="python3.12",
        Role=role,
        Handler="handler.main",
        Code={"ZipFile": code_zip("v1")},
    )
    lam.publish_version(FunctionName=FN)
    lam.create_alias(FunctionName=FN, Name="live", FunctionVersion="1")


def lambda_metrics(
    server: MotoServer, *, errors: float, duration: float, around: tuple[int, int] = (-60, 120)
) -> None:
    """Invocations, Errors and Duration of version 2 (the one the run publishes)."""
    dims = {"FunctionName": FN, "Resource": f"{FN}:live", "ExecutedVersion": "2"}
    values = {"Invocations": 100.0, "Errors": errors, "Duration": duration}
    put_metrics(server, "AWS/Lambda", dims, values, around)


def alias(server: MotoServer) -> tuple[str, dict[str, float]]:
    """(primary version, additional version weights) of alias live."""
    got = server.client("lambda").get_alias(FunctionName=FN, Name="live")
    weights = (got.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return got["FunctionVersion"], weights


def published(server: MotoServer) -> list[str]:
    versions = server.client("lambda").list_versions_by_function(FunctionName=FN)["Versions"]
    return [v["Version"] for v in versions if v["Version"] != "$LATEST"]


def fraud_apply(server: MotoServer, state: Path, **lengths: str) -> tuple[str, ...]:
    """``apply plans/fraud-or-not.yaml`` against the server; ``lengths`` of
    stage1, stage2, stage3 and monitor default to a second each."""
    lengths = {"stage1": "1s", "stage2": "1s", "stage3": "1s", "monitor": "1s", **lengths}
    return (
        "apply",
        FRAUD,
        "--endpoint-url",
        server.url,
        "--region",
        REGION,
        "--state-dir",
        str(state),
        *MOTO_VARS,
        *(arg for k, v in lengths.items() for arg in ("--var", f"{k}={v}")),
    )


# --- media-register: an ALB listener, blue and green ------------------------------


def alb_world(server: MotoServer, name: str = "media-register") -> dict[str, str]:
    """A load balancer whose listener forwards 100% to blue, 0% to green, a
    running (healthy) instance behind each side, and no deregistration delay
    (the real-clock runs would wait it out); the ARNs moto made up, by the
    plan's var names."""
    ec2 = server.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{az}")[
            "Subnet"
        ]["SubnetId"]
        for i, az in enumerate("ab")
    ]
    elb = server.client("elbv2")
    lb = elb.create_load_balancer(Name=name, Subnets=subnets)["LoadBalancers"][0]
    groups = {
        color: elb.create_target_group(Name=f"{name}-{color}", Protocol="HTTP", Port=80, VpcId=vpc)[
            "TargetGroups"
        ][0]["TargetGroupArn"]
        for color in ("blue", "green")
    }
    instances = {}
    for color, group in groups.items():
        instances[color] = ec2.run_instances(
            ImageId="ami-0123456789abcdef0", MinCount=1, MaxCount=1, SubnetId=subnets[0]
        )["Instances"][0]["InstanceId"]
        elb.register_targets(TargetGroupArn=group, Targets=[{"Id": instances[color]}])
        elb.modify_target_group_attributes(
            TargetGroupArn=group,
            Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "0"}],
        )
    forward = {
        "Type": "forward",
        "ForwardConfig": {
            "TargetGroups": [
                {"TargetGroupArn": groups["blue"], "Weight": 100},
                {"TargetGroupArn": groups["green"], "Weight": 0},
            ]
        },
    }
    listener = elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=[forward]
    )["Listeners"][0]["ListenerArn"]
    return {
        "listener": listener,
        "blue_target_group": groups["blue"],
        "green_target_group": groups["green"],
    }


def listener_weights(server: MotoServer, arns: dict[str, str]) -> dict[str, int]:
    """colour -> weight of the listener's forward action."""
    listener = server.client("elbv2").describe_listeners(ListenerArns=[arns["listener"]])
    (forward,) = listener["Listeners"][0]["DefaultActions"]
    by_arn = {g["TargetGroupArn"]: g["Weight"] for g in forward["ForwardConfig"]["TargetGroups"]}
    return {c: by_arn[arns[f"{c}_target_group"]] for c in ("blue", "green")}


def alb_metrics(
    server: MotoServer,
    arns: dict[str, str],
    *,
    errors: float,
    seconds: float,
    around: tuple[int, int] = (-60, 120),
) -> None:
    """Requests, 5xx and response time (in seconds) of the green target group."""
    dims = {
        "LoadBalancer": arns["listener"].split(":listener/")[1].rsplit("/", 1)[0],
        "TargetGroup": arns["green_target_group"].split(":")[-1],
    }
    values = {
        "RequestCount": 100.0,
        "HTTPCode_Target_5XX_Count": errors,
        "TargetResponseTime": seconds,
    }
    put_metrics(server, "AWS/ApplicationELB", dims, values, around)


def media_apply(
    server: MotoServer, state: Path, arns: dict[str, str], smoke_base: str, bake: str = "1s"
) -> tuple[str, ...]:
    """``apply plans/media-register.yaml`` against the server, smoke tests
    against ``smoke_base``/<idle colour>, a person's approval given up front."""
    values = {
        **arns,
        "smoke_base": f"{smoke_base}/${{idle_color}}",
        "bake": bake,
        "health_timeout": "0s",  # the world's targets are healthy or not: no waiting
    }
    return (
        "apply",
        MEDIA,
        "--auto-approve",
        "--endpoint-url",
        server.url,
        "--region",
        REGION,
        "--state-dir",
        str(state),
        *MOTO_VARS,
        *(arg for k, v in values.items() for arg in ("--var", f"{k}={v}")),
    )


def stacks(server: MotoServer) -> list[str]:
    live = server.client("cloudformation").describe_stacks()["Stacks"]
    return sorted(s["StackName"] for s in live if s["StackStatus"] != "DELETE_COMPLETE")
