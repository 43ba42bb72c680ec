"""plans/media-register.yaml: a load balancer whose listener forwards 100% to
blue, 0% to green; its metrics, its apply command line and its result."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from deployctl.testing.aws import MOTO_VARS, REGION, ClientSource, put_metrics
from deployctl.testing.worlds import ROOT
from deployctl.testing.worlds.alb import healthy_targets

if TYPE_CHECKING:
    from deployctl.testing.moto import MotoServer

PLAN = str(ROOT / "plans" / "media-register.yaml")
TEMPLATE = ROOT / "plans" / "templates" / "media-register.yaml"


def build(aws: ClientSource, region: str = REGION, name: str = "media-register") -> dict[str, str]:
    """The load balancer, its two target groups (a healthy target in each,
    no deregistration delay: real-clock runs would wait it out) and
    listener; the ARNs moto made up, by the plan's var names (listener,
    blue_target_group, ...)."""
    ec2 = aws.client("ec2", region)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{region}{az}")[
            "Subnet"
        ]["SubnetId"]
        for i, az in enumerate("ab")
    ]
    elb = aws.client("elbv2", region)
    lb = elb.create_load_balancer(Name=name, Subnets=subnets)["LoadBalancers"][0]
    groups = {
        color: elb.create_target_group(Name=f"{name}-{color}", Protocol="HTTP", Port=80, VpcId=vpc)[
            "TargetGroups"
        ][0]["TargetGroupArn"]
        for color in ("blue", "green")
    }
    healthy_targets(aws, groups, subnets[0], region)
    for group in groups.values():
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


def weights(aws: ClientSource, arns: dict[str, str], region: str = REGION) -> dict[str, int]:
    """colour -> weight of the listener's forward action."""
    listener = aws.client("elbv2", region).describe_listeners(ListenerArns=[arns["listener"]])
    (forward,) = listener["Listeners"][0]["DefaultActions"]
    by_arn = {g["TargetGroupArn"]: g["Weight"] for g in forward["ForwardConfig"]["TargetGroups"]}
    return {c: by_arn[arns[f"{c}_target_group"]] for c in ("blue", "green")}


def metrics(
    aws: ClientSource,
    arns: dict[str, str],
    times: Iterable[float],
    *,
    errors: float,
    seconds: float,
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
    put_metrics(aws, "AWS/ApplicationELB", dims, values, times)


def var_args(values: dict[str, str]) -> tuple[str, ...]:
    return tuple(arg for k, v in values.items() for arg in ("--var", f"{k}={v}"))


def apply_argv(
    server: MotoServer, state: Path, arns: dict[str, str], smoke_base: str, bake: str = "100ms"
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
        PLAN,
        "--auto-approve",
        "--endpoint-url",
        server.url,
        "--region",
        REGION,
        "--state-dir",
        str(state),
        *MOTO_VARS,
        *var_args(values),
    )


def stacks(aws: ClientSource, region: str = REGION) -> list[str]:
    """The names of the stacks that exist (not deleted)."""
    live = aws.client("cloudformation", region).describe_stacks()["Stacks"]
    return sorted(s["StackName"] for s in live if s["StackStatus"] != "DELETE_COMPLETE")
