"""Where the traffic ended up: read back from the embedded AWS after a run,
in the plan's names, so a promotion or a rollback is visible in one look."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from deployctl.actions.sandbox.ids import IdMap


def _weights(routing: Any) -> str:
    extra = (routing or {}).get("AdditionalVersionWeights") or {}
    return "".join(f", {float(w) * 100:g}% on version {v}" for v, w in sorted(extra.items()))


def _service(clients: Any, region: str, cluster: str, name: str) -> str:
    ecs = clients.client("ecs", region)
    found = ecs.describe_services(cluster=cluster, services=[name])["services"][0]
    sets = [t for t in found.get("taskSets") or () if t.get("status") != "DRAINING"]
    if not sets:
        td = str(found.get("taskDefinition")).rsplit("/", 1)[-1]
        return f"{td}, {found.get('desiredCount')} task(s)"
    return ", ".join(
        f"{t['status'].lower()} task set {str(t['taskDefinition']).rsplit('/', 1)[-1]}"
        for t in sorted(sets, key=lambda t: t["status"] != "PRIMARY")
    )


def final_state(clients: Any, ids: IdMap, seeded: Iterable[tuple[str, ...]]) -> list[str]:
    """One line per traffic switch the sandbox seeded: alias, listener, records..."""
    lines = []
    for key in sorted(seeded):
        kind, rest = key[0], key[1:]
        if kind == "alias":
            region, function, alias = rest
            got = clients.client("lambda", region).get_alias(FunctionName=function, Name=alias)
            lines.append(
                f"{region} lambda {function} alias {alias} -> version {got['FunctionVersion']}"
                + _weights(got.get("RoutingConfig"))
            )
        elif kind == "listener":
            (plan_arn,) = rest
            region = plan_arn.split(":")[3]
            elb = clients.client("elbv2", region)
            listener = elb.describe_listeners(ListenerArns=[ids.inward(plan_arn)])["Listeners"][0]
            forward = next(a for a in listener["DefaultActions"] if a["Type"] == "forward")
            groups = (forward.get("ForwardConfig") or {}).get("TargetGroups") or [
                {"TargetGroupArn": forward["TargetGroupArn"], "Weight": 100}
            ]
            split = ", ".join(
                f"{ids.outward(g['TargetGroupArn']).split('/')[-2]} {g.get('Weight', 1)}"
                for g in groups
            )
            lines.append(f"{region} ALB listener {plan_arn.split('/')[-1]} weights: {split}")
        elif kind == "service":
            region, cluster, name = rest
            lines.append(f"{region} ECS service {name}: {_service(clients, region, cluster, name)}")
        elif kind == "records":
            zone, name = rest
            r53 = clients.client("route53", "us-east-1")
            sets = r53.list_resource_record_sets(HostedZoneId=zone, StartRecordName=name)
            split = ", ".join(
                f"{s['SetIdentifier']} {s['Weight']}"
                for s in sets["ResourceRecordSets"]
                if "Weight" in s and s["Name"].rstrip(".") == name.rstrip(".")
            )
            lines.append(f"route53 {name} weights: {split}")
        elif kind == "distribution":
            (plan_id,) = rest
            got = clients.client("cloudfront", "us-east-1").get_distribution_config(
                Id=ids.inward(plan_id)
            )
            origin = got["DistributionConfig"]["DefaultCacheBehavior"]["TargetOriginId"]
            lines.append(f"cloudfront {plan_id} default origin: {origin}")
        elif kind == "flag":
            region, name = rest
            value = clients.client("ssm", region).get_parameter(Name=name)["Parameter"]["Value"]
            flag = json.loads(value)
            lines.append(
                f"{region} flag {name}: enabled={flag.get('enabled')} "
                f"percentage={flag.get('percentage')}"
            )
    return lines
