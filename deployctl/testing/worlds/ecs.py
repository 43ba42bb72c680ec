"""plans/media-register-ecs.yaml (one service, task sets) and
plans/media-register-ecs-services.yaml (a service per colour): the load
balancer of :mod:`.media` (blue live, a healthy EC2 instance behind each
target group), an ECS cluster, the live task definition, and the service(s)
on blue; their metrics, apply command line and result.

What moto 5.2 does and does not do for ECS, and how these worlds cope:

- task sets (``CreateTaskSet``... ``UpdateServicePrimaryTaskSet``) and the
  EXTERNAL controller are modelled; a task set is ``STEADY_STATE`` at once
  and carries no running counts.  Scaled task sets run tasks: the worlds use
  the FARGATE launch type with bridge-mode task definitions (moto's awsvpc
  tasks fail on a missing ENI attribute, and EC2 tasks need registered
  container instances);
- a service's ``runningCount`` equals its desired count only after an
  ``UpdateService`` that sets it, and its ``deployments`` never change: the
  worlds update each service once after creating it, so it starts stable;
- tasks are never registered in target groups: the EC2 instance behind each
  target group stands for its tasks (stopped, the side is unhealthy).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deployctl.core.plan import Plan
from deployctl.manifest.load import LoadOptions, load_text
from deployctl.plan.compile import compile_plan
from deployctl.testing.aws import MOTO_VARS, REGION, ClientSource, put_metrics
from deployctl.testing.worlds import ROOT, media

if TYPE_CHECKING:
    from deployctl.testing.moto import MotoServer

TASK_SETS = str(ROOT / "plans" / "media-register-ecs.yaml")
SERVICES = str(ROOT / "plans" / "media-register-ecs-services.yaml")
TASK_DEFINITION = ROOT / "plans" / "taskdefs" / "media-register.json"
CLUSTER = "media-register"
SERVICE = "media-register"
COLOR_SERVICES = {"blue": "media-register-blue", "green": "media-register-green"}
NEW_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/media-register:2024.01.20"
DESIRED = 2


def task_definition(image: str | None = None) -> dict[str, Any]:
    """The repository's task definition (``image`` on its container, if given)."""
    data: dict[str, Any] = json.loads(TASK_DEFINITION.read_text(encoding="utf-8"))
    if image:
        data["containerDefinitions"][0]["image"] = image
    return data


def _balancer(group: str) -> list[dict[str, Any]]:
    return [{"targetGroupArn": group, "containerName": "api", "containerPort": 8080}]


def build(aws: ClientSource, shape: str, region: str = REGION) -> dict[str, str]:
    """``shape`` ``task-sets`` or ``services``; returns the ARNs by the plans'
    var names (listener, blue_target_group, green_target_group)."""
    arns = media.build(aws, region)
    ecs = aws.client("ecs", region)
    ecs.create_cluster(clusterName=CLUSTER)
    live = ecs.register_task_definition(**task_definition())["taskDefinition"]
    first = live["taskDefinitionArn"]
    if shape == "task-sets":
        ecs.create_service(
            cluster=CLUSTER,
            serviceName=SERVICE,
            desiredCount=DESIRED,
            deploymentController={"type": "EXTERNAL"},
        )
        made = ecs.create_task_set(
            cluster=CLUSTER,
            service=SERVICE,
            taskDefinition=first,
            launchType="FARGATE",
            loadBalancers=_balancer(arns["blue_target_group"]),
            scale={"value": 100.0, "unit": "PERCENT"},
        )["taskSet"]
        ecs.update_service_primary_task_set(
            cluster=CLUSTER, service=SERVICE, primaryTaskSet=made["taskSetArn"]
        )
        return arns
    for color, name in COLOR_SERVICES.items():
        count = DESIRED if color == "blue" else 0  # the idle colour scaled in, as teams do
        ecs.create_service(
            cluster=CLUSTER,
            serviceName=name,
            taskDefinition=first,
            desiredCount=count,
            loadBalancers=_balancer(arns[f"{color}_target_group"]),
        )
        ecs.update_service(cluster=CLUSTER, service=name, desiredCount=count)
    return arns


def revision(aws: ClientSource, n: int, region: str = REGION) -> str:
    """The ARN of revision ``n`` of the family."""
    found = aws.client("ecs", region).describe_task_definition(taskDefinition=f"media-register:{n}")
    return str(found["taskDefinition"]["taskDefinitionArn"])


def stop_green(aws: ClientSource, arns: dict[str, str], region: str = REGION) -> None:
    """Stop the instance behind green's target group: the new tasks never get healthy."""
    elb = aws.client("elbv2", region)
    found = elb.describe_target_health(TargetGroupArn=arns["green_target_group"])
    ids = [t["Target"]["Id"] for t in found["TargetHealthDescriptions"]]
    aws.client("ec2", region).stop_instances(InstanceIds=ids)


def metrics(
    aws: ClientSource,
    arns: dict[str, str],
    times: Iterable[float],
    *,
    errors: float,
    color: str = "green",
) -> None:
    """Requests, 5xx and response time of ``color``'s target group (where the
    new version goes: green while blue is live); slow when errors are many."""
    dims = {
        "LoadBalancer": arns["listener"].split(":listener/")[1].rsplit("/", 1)[0],
        "TargetGroup": arns[f"{color}_target_group"].split(":")[-1],
    }
    values = {
        "RequestCount": 100.0,
        "HTTPCode_Target_5XX_Count": errors,
        "TargetResponseTime": 0.05 if errors < 10 else 2.0,
    }
    put_metrics(aws, "AWS/ApplicationELB", dims, values, times)


def services(aws: ClientSource, region: str = REGION) -> dict[str, tuple[str, int]]:
    """colour -> (task definition family:revision, desired count) of each service."""
    ecs = aws.client("ecs", region)
    found = ecs.describe_services(cluster=CLUSTER, services=list(COLOR_SERVICES.values()))
    by_name = {s["serviceName"]: s for s in found["services"]}
    return {
        color: (
            by_name[name]["taskDefinition"].rsplit("/", 1)[-1],
            by_name[name]["desiredCount"],
        )
        for color, name in COLOR_SERVICES.items()
    }


def task_sets(
    aws: ClientSource, arns: dict[str, str], region: str = REGION
) -> list[tuple[str, str, str]]:
    """(status, task definition family:revision, colour) of each task set, primary first."""
    ecs = aws.client("ecs", region)
    service = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]
    colours = {arns[f"{c}_target_group"]: c for c in ("blue", "green")}
    out = [
        (
            t["status"],
            t["taskDefinition"].rsplit("/", 1)[-1],
            colours.get(t["loadBalancers"][0]["targetGroupArn"], "?"),
        )
        for t in service.get("taskSets") or ()
    ]
    return sorted(out, key=lambda t: (t[0] != "PRIMARY", t))


def images(aws: ClientSource, region: str = REGION) -> dict[str, str]:
    """family:revision -> image of every revision of the family."""
    ecs = aws.client("ecs", region)
    out = {}
    for arn in ecs.list_task_definitions(familyPrefix="media-register")["taskDefinitionArns"]:
        found = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        out[arn.rsplit("/", 1)[-1]] = found["containerDefinitions"][0]["image"]
    return out


def apply_argv(
    server: MotoServer, state: Path, arns: dict[str, str], shape: str, **values: str
) -> tuple[str, ...]:
    """``apply`` of the example for ``shape`` against the server, gates of
    100 ms (``values`` override any var: canary, every, monitor...)."""
    plan = TASK_SETS if shape == "task-sets" else SERVICES
    wanted = {
        **arns,
        "canary": "100ms",
        "every": "100ms",
        "monitor": "100ms",
        "health_timeout": "0s",
        "stable_timeout": "0s",
        **values,
    }
    if shape == "task-sets":
        wanted.pop("every")
    else:
        wanted.pop("canary")
    return (
        "apply",
        plan,
        "--endpoint-url",
        server.url,
        "--region",
        REGION,
        "--state-dir",
        str(state),
        *MOTO_VARS,
        *media.var_args(wanted),
    )


# -- in one process: in-process moto and a virtual clock -----------------------------


def compiled(shape: str, arns: dict[str, str], **values: str) -> Plan:
    """The example for ``shape``, compiled for the world's ``arns`` with
    minute-long gates and the statistic moto can compute (``values`` win)."""
    path = TASK_SETS if shape == "task-sets" else SERVICES
    wanted = {**arns, "canary": "2m", "every": "2m", "monitor": "2m", "latency_stat": "Maximum"}
    wanted.update(values)
    text = Path(path).read_text(encoding="utf-8")
    return compile_plan(load_text(text, path, LoadOptions(vars=wanted)), path)
