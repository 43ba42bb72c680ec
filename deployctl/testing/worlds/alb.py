"""A load balancer for the ALB action tests: a listener and a path rule that
both forward plainly (not weighted) to blue, with green idle."""

from __future__ import annotations

from typing import Any

from deployctl.testing.aws import REGION, ClientSource


def build(aws: ClientSource, region: str = REGION) -> dict[str, Any]:
    """``{"client", "ec2", "listener", "rule", "tgs": {colour: arn},
    "instances": {colour: id}}``, a healthy target on each side."""
    ec2 = aws.client("ec2", region)
    elb = aws.client("elbv2", region)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{region}{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in enumerate("ab")
    ]
    arn = elb.create_load_balancer(Name="web", Subnets=subnets)["LoadBalancers"][0][
        "LoadBalancerArn"
    ]
    tgs = {
        c: elb.create_target_group(Name=f"web-{c}", Protocol="HTTP", Port=80, VpcId=vpc)[
            "TargetGroups"
        ][0]["TargetGroupArn"]
        for c in ("blue", "green")
    }
    # One running instance behind each side: moto reports it healthy, and a
    # shift moves traffic only onto a side with a healthy target.
    instances = healthy_targets(aws, tgs, subnets[0], region)
    listener = elb.create_listener(
        LoadBalancerArn=arn,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tgs["blue"]}],
    )["Listeners"][0]["ListenerArn"]
    rule = elb.create_rule(
        ListenerArn=listener,
        Priority=10,
        Conditions=[{"Field": "path-pattern", "Values": ["/api/*"]}],
        Actions=[{"Type": "forward", "TargetGroupArn": tgs["blue"]}],
    )["Rules"][0]["RuleArn"]
    return {
        "client": elb,
        "ec2": ec2,
        "listener": listener,
        "rule": rule,
        "tgs": tgs,
        "instances": instances,
    }


def healthy_targets(
    aws: ClientSource, groups: dict[str, str], subnet: str, region: str = REGION
) -> dict[str, str]:
    """A running EC2 instance registered in each target group (moto reports
    it healthy; stopped, it is ``unused``/``Target.InvalidState``); colour ->
    instance id."""
    ec2 = aws.client("ec2", region)
    elb = aws.client("elbv2", region)
    out = {}
    for color, group in groups.items():
        out[color] = ec2.run_instances(
            ImageId="ami-0123456789abcdef0", MinCount=1, MaxCount=1, SubnetId=subnet
        )["Instances"][0]["InstanceId"]
        elb.register_targets(TargetGroupArn=group, Targets=[{"Id": out[color]}])
    return out


def params(lb: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An ``alb.*`` step's params for the listener in ``lb``."""
    return {
        "listener_arn": lb["listener"],
        "blue_target_group": lb["tgs"]["blue"],
        "green_target_group": lb["tgs"]["green"],
        **extra,
    }


def weights(lb: dict[str, Any], rule: bool = False) -> dict[str, int]:
    """colour -> weight of the listener's (or the rule's) forward action."""
    elb = lb["client"]
    if rule:
        actions = elb.describe_rules(RuleArns=[lb["rule"]])["Rules"][0]["Actions"]
    else:
        actions = elb.describe_listeners(ListenerArns=[lb["listener"]])["Listeners"][0][
            "DefaultActions"
        ]
    groups = actions[0]["ForwardConfig"]["TargetGroups"]
    by_arn = {g["TargetGroupArn"]: g["Weight"] for g in groups}
    return {c: by_arn.get(arn, 0) for c, arn in lb["tgs"].items()}


def kept(aws: ClientSource, region: str = REGION) -> dict[str, Any]:
    """:func:`build`'s world on in-process moto, built once per process and
    put back after (:func:`deployctl.testing.motostate.kept`); the clients
    in it are ``aws``'s."""
    from deployctl.testing.motostate import kept as keep  # noqa: PLC0415 - moto only here

    def ids() -> dict[str, Any]:
        made = build(aws, region)
        return {k: v for k, v in made.items() if k not in ("client", "ec2")}

    made = keep(("alb", region), ids)
    return {"client": aws.client("elbv2", region), "ec2": aws.client("ec2", region), **made}
