"""Seed the embedded AWS with what a compiled plan's steps reference.

One pass over the steps, one helper per service; each creates the resource
in the state a real account would be in *before* the deployment (alias on
version 1, listener 100% on blue, weighted records all on blue...).  moto
picks its own ids for ALB ARNs, hosted zones and distributions, so every
helper records plan id -> moto id in the :class:`IdMap` it is given.

Only ``${region}`` can be resolved at this point; a parameter holding any
other ``${...}`` reference is a value some earlier step computes, never a
resource to create.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Mapping
from typing import Any

from deployctl.actions.aws import Clients
from deployctl.actions.sandbox import ecs_seed
from deployctl.actions.sandbox.ids import IdMap
from deployctl.core.kinds import StepKind
from deployctl.core.plan import Plan, Step
from deployctl.core.refs import is_unresolved
from deployctl.manifest.secrets import secret_refs_in, ssm_name_problem

ROLE = "deployctl-sandbox-lambda"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)
LAMBDA_KINDS = ("lambda.", StepKind.SMOKE_LAMBDA)
FORWARD_BLUE = 100
SANDBOX_AMI = "ami-0123456789abcdef0"  # moto runs an instance from any image id


def tiny_zip(label: str) -> bytes:
    """A handler zip; different labels give different CodeSha256s."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("index.py", f"# {label}\ndef handler(event, context):\n    return event\n")
    return buf.getvalue()


def _fill(value: Any, refs: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        for name, known in refs.items():
            value = value.replace(f"${{{name}}}", known)
        return value
    if isinstance(value, Mapping):
        return {k: _fill(v, refs) for k, v in value.items()}
    return value


def _variants(step: Step) -> list[Mapping[str, Any]]:
    """The step's params with ``${region}`` filled in; a blue/green side
    (``${idle_color}``, ``${live_color}``) is not known before the run, so
    one variant per colour: both sides get seeded."""
    params = _fill(step.params, {"region": step.region or ""})
    text = json.dumps(params)
    if "${idle_color}" not in text and "${live_color}" not in text:
        return [params]
    return [_fill(params, {"idle_color": c, "live_color": c}) for c in ("blue", "green")]


def _concrete(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and not is_unresolved(value)


def _arn_name(arn: str, kind: str, fallback: str) -> str:
    """The name inside an ELB ARN (``.../targetgroup/NAME/id``, ``.../app/NAME/id``)."""
    match = re.search(rf"{kind}/([^/]+)/", arn)
    return (match.group(1) if match else fallback)[:32]


class Seeder:
    def __init__(self, clients: Clients, ids: IdMap, plan: Plan) -> None:
        self.clients = clients
        self.ids = ids
        self.plan = plan
        self.done: set[tuple[str, ...]] = set()
        self.vpcs: dict[str, tuple[str, list[str]]] = {}  # region -> (vpc, subnets)
        self.lbs: dict[tuple[str, str], str] = {}  # (region, name) -> ARN

    def _once(self, *key: str) -> bool:
        """True the first time ``key`` is seen: each resource is created once."""
        if key in self.done:
            return False
        self.done.add(key)
        return True

    def once(self, *key: str) -> bool:
        """For the seeding helpers of other modules (:mod:`.ecs_seed`)."""
        return self._once(*key)

    def client(self, service: str, region: str) -> Any:
        return self.clients.client(service, region)

    def seed(self) -> None:
        for step in self.plan.steps:
            region = step.region or self.clients.region or "us-east-1"
            self.secrets(region, step.params)
            kind = step.kind
            if kind.startswith(LAMBDA_KINDS):
                for variant in _variants(step):
                    if _concrete(variant.get("function")):
                        self.function(region, variant)
                continue
            params = _variants(step)[0]
            if kind.startswith("alb.") and _concrete(params.get("listener_arn")):
                self.listener(region, params)
            elif kind == StepKind.ECS_DISCOVER and _concrete(params.get("listener_arn")):
                self.listener(region, params)
                ecs_seed.seed(self, region, params)
            elif kind.startswith("route53."):
                self.route53(region, params)
            elif kind.startswith("cloudfront.") and _concrete(params.get("distribution_id")):
                self.distribution(region, params)
            elif kind == StepKind.RDS_SNAPSHOT:
                self.database(region, params)
            elif kind == StepKind.FLAG_SET:
                self.flag(region, params)

    # --- Lambda -----------------------------------------------------------------

    def role(self) -> str:
        iam = self.client("iam", "us-east-1")
        if self._once("role"):
            iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=TRUST)
        return str(iam.get_role(RoleName=ROLE)["Role"]["Arn"])

    def function(self, region: str, p: Mapping[str, Any]) -> None:
        name = str(p["function"])
        lam = self.client("lambda", region)
        if self._once("lambda", region, name):
            lam.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=self.role(),
                Handler="index.handler",
                Code={"ZipFile": tiny_zip(f"{name} stable")},
                Description="seeded by deployctl --sandbox",
            )
            lam.publish_version(FunctionName=name)
        alias = p.get("alias")
        if _concrete(alias) and self._once("alias", region, name, str(alias)):
            lam.create_alias(FunctionName=name, Name=str(alias), FunctionVersion="1")
        code = p.get("code") or {}
        bucket, key = code.get("s3_bucket"), code.get("s3_key")
        if _concrete(bucket) and _concrete(key):
            s3 = self.client("s3", region)
            if self._once("bucket", str(bucket)):
                where = {} if region == "us-east-1" else {"LocationConstraint": region}
                s3.create_bucket(
                    Bucket=bucket, **({"CreateBucketConfiguration": where} if where else {})
                )
            if self._once("object", str(bucket), str(key)):
                s3.put_object(Bucket=bucket, Key=key, Body=tiny_zip(f"{name} {key}"))

    # --- ALB --------------------------------------------------------------------

    def subnets(self, region: str) -> tuple[str, list[str]]:
        if region not in self.vpcs:
            ec2 = self.client("ec2", region)
            vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
            zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]]
            subnets = [
                ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{n}.0/24", AvailabilityZone=zone)[
                    "Subnet"
                ]["SubnetId"]
                for n, zone in enumerate(zones[:2])
            ]
            self.vpcs[region] = (vpc, subnets)
        return self.vpcs[region]

    def target_group(self, region: str, arn: str, vpc: str) -> str:
        if self._once("tg", arn):
            elb = self.client("elbv2", region)
            name = _arn_name(arn, "targetgroup", f"tg-{len(self.done)}")
            made = elb.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=vpc)
            group = made["TargetGroups"][0]["TargetGroupArn"]
            self.ids.add(arn, group)
            # CloudWatch's TargetGroup dimension (targetgroup/NAME/ID) of each, too.
            self.ids.add(arn.rpartition(":")[2], group.rpartition(":")[2])
            # Traffic moves only onto a side with healthy targets: one running
            # instance each (moto reports a running instance healthy).
            subnet = self.subnets(region)[1][0]
            instance = self.client("ec2", region).run_instances(
                ImageId=SANDBOX_AMI, MinCount=1, MaxCount=1, SubnetId=subnet
            )["Instances"][0]["InstanceId"]
            elb.register_targets(TargetGroupArn=group, Targets=[{"Id": instance}])
        return self.ids.inward(arn)  # type: ignore[no-any-return]

    def listener(self, region: str, p: Mapping[str, Any]) -> None:
        plan_arn = str(p["listener_arn"])
        blue, green = str(p.get("blue_target_group")), str(p.get("green_target_group"))
        if not (_concrete(blue) and _concrete(green)):
            return
        elb = self.client("elbv2", region)
        vpc, subnets = self.subnets(region)
        groups = [self.target_group(region, arn, vpc) for arn in (blue, green)]
        forward = [
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": groups[0], "Weight": FORWARD_BLUE},
                        {"TargetGroupArn": groups[1], "Weight": 100 - FORWARD_BLUE},
                    ]
                },
            }
        ]
        if self._once("listener", plan_arn):
            lb_name = _arn_name(plan_arn, "app", self.plan.project)
            if (region, lb_name) not in self.lbs:
                lb = elb.create_load_balancer(Name=lb_name, Subnets=subnets)["LoadBalancers"][0]
                self.lbs[(region, lb_name)] = lb["LoadBalancerArn"]
            made = elb.create_listener(
                LoadBalancerArn=self.lbs[(region, lb_name)],
                Protocol="HTTP",
                Port=79 + sum(1 for k in self.done if k[0] == "listener"),
                DefaultActions=forward,
            )
            self.ids.add(plan_arn, made["Listeners"][0]["ListenerArn"])
        rule = p.get("rule_arn")
        if _concrete(rule) and self._once("rule", str(rule)):
            made = elb.create_rule(
                ListenerArn=self.ids.inward(plan_arn),
                Priority=len([k for k in self.done if k[0] == "rule"]),
                Conditions=[{"Field": "path-pattern", "Values": ["/*"]}],
                Actions=forward,
            )
            self.ids.add(str(rule), made["Rules"][0]["RuleArn"])

    # --- Route 53 ---------------------------------------------------------------

    def zone(self, p: Mapping[str, Any]) -> str | None:
        plan_id, record = p.get("hosted_zone_id"), p.get("record_name")
        if not (_concrete(plan_id) and _concrete(record)):
            return None
        plan_id = str(plan_id)
        if self._once("zone", plan_id):
            labels = str(record).rstrip(".").split(".")
            domain = ".".join(labels[1:] if len(labels) > 2 else labels)
            r53 = self.client("route53", "us-east-1")
            made = r53.create_hosted_zone(Name=domain, CallerReference=f"deployctl-{plan_id}")
            moto_id = made["HostedZone"]["Id"].rsplit("/", 1)[-1]
            self.ids.add(plan_id.rsplit("/", 1)[-1], moto_id)
        return self.ids.inward(plan_id.rsplit("/", 1)[-1])  # type: ignore[no-any-return]

    def route53(self, region: str, p: Mapping[str, Any]) -> None:
        zone = self.zone(p)
        blue, green = p.get("blue"), p.get("green")
        if zone is None or not (isinstance(blue, Mapping) and isinstance(green, Mapping)):
            return
        name = str(p["record_name"])
        if not self._once("records", zone, name):
            return
        changes = [
            {
                "Action": "UPSERT",
                "ResourceRecordSet": {
                    "Name": name,
                    "Type": str(p.get("record_type") or "CNAME"),
                    "SetIdentifier": str(side.get("set_identifier") or color),
                    "Weight": weight,
                    "TTL": int(p.get("ttl") or 60),
                    "ResourceRecords": [{"Value": str(side.get("value"))}],
                },
            }
            for color, side, weight in (("blue", blue, 100), ("green", green, 0))
        ]
        self.client("route53", "us-east-1").change_resource_record_sets(
            HostedZoneId=zone, ChangeBatch={"Changes": changes}
        )

    # --- CloudFront -------------------------------------------------------------

    def distribution(self, region: str, p: Mapping[str, Any]) -> None:
        plan_id = str(p["distribution_id"])
        blue, green = str(p.get("blue_origin")), str(p.get("green_origin"))
        if not self._once("distribution", plan_id):
            return
        origins = [
            {
                "Id": origin,
                "DomainName": f"{origin}.sandbox.invalid",
                "CustomOriginConfig": {
                    "HTTPPort": 80,
                    "HTTPSPort": 443,
                    "OriginProtocolPolicy": "https-only",
                },
            }
            for origin in (blue, green)
        ]
        made = self.client("cloudfront", region).create_distribution(
            DistributionConfig={
                "CallerReference": f"deployctl-{plan_id}",
                "Comment": f"{self.plan.project} (deployctl sandbox)",
                "Enabled": True,
                "Origins": {"Quantity": 2, "Items": origins},
                "DefaultCacheBehavior": {
                    "TargetOriginId": blue,
                    "ViewerProtocolPolicy": "redirect-to-https",
                    "MinTTL": 0,
                    "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                    "TrustedSigners": {"Enabled": False, "Quantity": 0},
                },
            }
        )
        self.ids.add(plan_id, made["Distribution"]["Id"])

    # --- RDS and flags ----------------------------------------------------------

    def database(self, region: str, p: Mapping[str, Any]) -> None:
        rds = self.client("rds", region)
        if _concrete(p.get("cluster")) and self._once("cluster", str(p["cluster"])):
            rds.create_db_cluster(
                DBClusterIdentifier=p["cluster"],
                Engine="aurora-postgresql",
                MasterUsername="sandbox",
                MasterUserPassword="sandbox-only-password",
            )
        if _concrete(p.get("instance")) and self._once("instance", str(p["instance"])):
            rds.create_db_instance(
                DBInstanceIdentifier=p["instance"],
                DBInstanceClass="db.t3.micro",
                Engine="postgres",
                AllocatedStorage=20,
                MasterUsername="sandbox",
                MasterUserPassword="sandbox-only-password",
            )

    def flag(self, region: str, p: Mapping[str, Any]) -> None:
        """An SSM flag starts off, so the step's undo has a value to put back."""
        store = p.get("store") or {}
        if store.get("kind") != "ssm" or not _concrete(store.get("path")):
            return
        name = f"{str(store['path']).rstrip('/')}/{p['flag']}"
        if self._once("flag", region, name):
            off = {"enabled": False, "percentage": 0, "allowlist": []}
            self.client("ssm", region).put_parameter(
                Name=name, Value=json.dumps(off), Type="String", Description="sandbox seed"
            )

    # --- ${ssm:/path} secrets ------------------------------------------------------

    def secrets(self, region: str, params: Any) -> None:
        """A stand-in SecureString for every ``${ssm:/path}`` the step reads
        (the real one lives in the real account)."""
        for _, path in sorted(secret_refs_in(params)):
            if ssm_name_problem(path) is not None:
                continue
            name = path.partition(":")[0]  # without a ':version' selector
            if self._once("secret", region, name):
                self.client("ssm", region).put_parameter(
                    Name=name,
                    Value=f"sandbox-secret{name.replace('/', '-')}",
                    Type="SecureString",
                    Description="sandbox seed",
                )


def seed(plan: Plan, clients: Clients, ids: IdMap) -> None:
    """Create in the embedded AWS every resource ``plan`` expects to exist."""
    Seeder(clients, ids, plan).seed()
