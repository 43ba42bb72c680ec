"""The invariants the safety harness (:mod:`deployctl.testing.safety`)
checks on the world once a run ended, read from the embedded AWS (and the
journal) in the plan's own ids:

1. everything that serves traffic points at something that exists and is
   healthy: alias versions, listener target groups with weight (and a
   healthy target), routing records (alias targets that resolve, health
   checks that exist); a region on the new version is reachable through the
   routing records written for it;
2. no DNS name that had records before the run has none after;
3. a resource whose every change was undone is back exactly as it was
   (and as the journal's ``before`` says); a routing undo that kept records
   so as not to empty a serving name says so in its ``undone`` record;
4. no Lambda version was published twice (no task definition registered twice);
6. ECS (:mod:`deployctl.testing.invariants_ecs`): a colour with traffic runs
   a task set or a service with tasks, and the primary task set gets traffic.

(5., a killed run ends where the same run uninterrupted ended, compares two
:meth:`World.view` results: tests/safety.)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from deployctl.actions.sandbox import Sandbox
from deployctl.core.kinds import StepKind
from deployctl.core.plan import Plan, Step
from deployctl.core.records import Record
from deployctl.execute import api
from deployctl.execute.state import FAILED, PENDING, UNDONE, RunState
from deployctl.testing import invariants_ecs


class World:
    """What the plan's steps touch, read from the embedded AWS (plan ids)."""

    def __init__(self, box: Sandbox, plan: Plan) -> None:
        self.box, self.plan = box, plan
        self.aliases: set[tuple[str, str, str]] = set()
        self.listeners: set[tuple[str, str, str, str]] = set()
        self.names: set[tuple[str, str, str]] = set()  # zone (plan id), name, type
        self.flags: set[tuple[str, str]] = set()
        self.stacks: set[tuple[str, str]] = set()
        self.ecs = invariants_ecs.targets(plan)
        for s in plan.steps:
            p, region = s.params, s.region or "us-east-1"
            if s.kind in (StepKind.LAMBDA_SHIFT, StepKind.LAMBDA_PUBLISH):
                self.aliases.add((region, str(p["function"]), str(p["alias"])))
            elif s.kind.startswith("alb.") or s.kind == StepKind.ECS_DISCOVER:
                self.listeners.add(
                    (
                        region,
                        str(p.get("rule_arn") or p["listener_arn"]),
                        str(p["blue_target_group"]),
                        str(p["green_target_group"]),
                    )
                )
            elif s.kind.startswith("route53."):
                self.names.add(
                    (str(p["hosted_zone_id"]), _name(p["record_name"]), str(p["record_type"]))
                )
                if p.get("layout"):
                    self.names.add(
                        (
                            str(p["hosted_zone_id"]),
                            _name(p["layout"]["active_name"]),
                            str(p["record_type"]),
                        )
                    )
            elif s.kind == StepKind.FLAG_SET and p["store"].get("kind") == "ssm":
                self.flags.add((region, f"{str(p['store']['path']).rstrip('/')}/{p['flag']}"))
            elif s.kind == StepKind.CLOUDFORMATION_DEPLOY:
                for color in ("blue", "green"):
                    name = str(p["stack"]).replace("${idle_color}", color)
                    self.stacks.add((region, name))

    def client(self, service: str, region: str = "us-east-1") -> Any:
        return self.box.clients.client(service, region)

    def inward(self, value: str) -> str:
        return str(self.box.ids.inward(value))

    def outward(self, value: Any) -> Any:
        return self.box.ids.outward(value)

    def view(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for region, fn, alias in sorted(self.aliases):
            lam = self.client("lambda", region)
            got = lam.get_alias(FunctionName=fn, Name=alias)
            weights = (got.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
            out[f"alias {region} {fn}:{alias}"] = [got["FunctionVersion"], dict(weights)]
            versions = lam.list_versions_by_function(FunctionName=fn)["Versions"]
            out[f"versions {region} {fn}"] = sorted(v["Version"] for v in versions)
        for region, listener, blue, green in sorted(self.listeners):
            out[f"listener {listener}"] = self.weights(region, listener, blue, green)
        for zone, name, rtype in sorted(self.names):
            out[f"records {name} {rtype}"] = self.records(zone, name, rtype)
        for region, name in sorted(self.flags):
            try:
                value = self.client("ssm", region).get_parameter(Name=name)["Parameter"]["Value"]
                out[f"flag {region} {name}"] = json.loads(value)
            except self.client("ssm", region).exceptions.ParameterNotFound:
                out[f"flag {region} {name}"] = None
        for region, name in sorted(self.stacks):
            out[f"stack {region} {name}"] = self.stack(region, name)
        for target in self.ecs:
            out.update(invariants_ecs.view(self, target))
        return out

    def weights(self, region: str, listener: str, blue: str, green: str) -> dict[str, int]:
        elb = self.client("elbv2", region)
        arn = self.inward(listener)
        if ":listener-rule/" in listener:
            actions = elb.describe_rules(RuleArns=[arn])["Rules"][0]["Actions"]
        else:
            actions = elb.describe_listeners(ListenerArns=[arn])["Listeners"][0]["DefaultActions"]
        forward = next(a for a in actions if a["Type"] == "forward")
        groups = (forward.get("ForwardConfig") or {}).get("TargetGroups") or [
            {"TargetGroupArn": forward["TargetGroupArn"], "Weight": 100}
        ]
        by_arn = {self.outward(g["TargetGroupArn"]): int(g.get("Weight", 1)) for g in groups}
        return {"blue": by_arn.get(blue, 0), "green": by_arn.get(green, 0)}

    def records(self, zone: str, name: str, rtype: str) -> list[dict[str, Any]]:
        r53 = self.client("route53")
        sets = r53.list_resource_record_sets(
            HostedZoneId=self.inward(zone.rsplit("/", 1)[-1]),
            StartRecordName=name,
            StartRecordType=rtype,
        )["ResourceRecordSets"]
        out = []
        for found in sets:
            if _name(found["Name"]) != name or found["Type"] != rtype:
                continue
            rr = dict(found)
            if rr.get("HealthCheckId"):
                rr["HealthCheckId"] = "<health check>"
            if rr.get("AliasTarget"):
                rr["AliasTarget"] = {
                    **rr["AliasTarget"],
                    "HostedZoneId": "<zone>",
                    "DNSName": _name(rr["AliasTarget"]["DNSName"]),
                }
            out.append(rr)
        return sorted(out, key=lambda r: str(r.get("SetIdentifier")))

    def stack(self, region: str, name: str) -> Any:
        cfn = self.client("cloudformation", region)
        live = [
            s
            for s in cfn.describe_stacks()["Stacks"]
            if s["StackName"] == name and s["StackStatus"] != "DELETE_COMPLETE"
        ]
        if not live:
            return None
        params = {p["ParameterKey"]: p["ParameterValue"] for p in live[0].get("Parameters") or ()}
        return {"status": live[0]["StackStatus"], "parameters": params}

    # --- the invariants -----------------------------------------------------------------

    def check(
        self,
        before: Mapping[str, Any],
        after: Mapping[str, Any],
        state: RunState,
        records: Sequence[Record],
    ) -> list[str]:
        out = self.serving(after) + self.routed(before, after, state)
        for key, old in before.items():
            if key.startswith("records ") and old and not after.get(key):
                out.append(f"{key}: served before the run, has no records now")
        out += self.undone(before, after, state, records)
        out += invariants_ecs.registered_twice(before, after)
        for target in self.ecs:
            out += invariants_ecs.serving(target, after)
        for key, versions in after.items():
            if key.startswith("versions "):
                new = len(set(versions) - set(before.get(key) or ()))
                if new > 1:
                    out.append(f"{key}: {new} versions published by one run")
        return out

    def routed(
        self, before: Mapping[str, Any], after: Mapping[str, Any], state: RunState
    ) -> list[str]:
        """A region that serves the new version is reachable through the routing
        records that were written for it (rollback keeps them with the region)."""
        out = []
        for s in self.plan.steps:
            if s.kind != StepKind.ROUTE53_ROUTING:
                continue
            values = [
                json.dumps(v)
                for v in after.get(
                    f"records {_name(s.params['record_name'])} {s.params['record_type']}"
                )
                or ()
            ]
            layout = s.params.get("layout")
            if layout:
                values += [
                    json.dumps(v)
                    for v in after.get(
                        f"records {_name(layout['active_name'])} {s.params['record_type']}"
                    )
                    or ()
                ]
            for region in (t.split(":", 1)[1] for t in s.tags if t.startswith("serves:")):
                served = [
                    k
                    for k in after
                    if k.startswith(f"alias {region} ") and after[k] != before.get(k)
                ]
                value = str(s.params["records"][region])
                ran = state.step(s.id).status not in (PENDING, FAILED)
                if served and ran and not any(value in v for v in values):
                    out.append(
                        f"{served[0]} serves the new version, but no record of "
                        f"{s.params['record_name']} sends users to {value}"
                    )
        return out

    def serving(self, after: Mapping[str, Any]) -> list[str]:
        out = []
        for region, fn, alias in self.aliases:
            version, weights = after[f"alias {region} {fn}:{alias}"]
            for v in [version, *weights]:
                if v not in after[f"versions {region} {fn}"] and v != "$LATEST":
                    out.append(f"alias {region} {fn}:{alias} serves version {v}, which is gone")
        for region, listener, blue, green in self.listeners:
            weights = after[f"listener {listener}"]
            for color, arn in (("blue", blue), ("green", green)):
                if weights[color] > 0 and self.healthy(region, arn) < 1:
                    out.append(
                        f"listener {listener} sends {weights[color]}% to {color}, "
                        "which has no healthy target"
                    )
        r53 = self.client("route53")
        checks = {c["Id"] for c in r53.list_health_checks()["HealthChecks"]}
        names = {
            key.split(" ")[1]
            for key, value in after.items()
            if key.startswith("records ") and value
        }
        for zone, name, rtype in self.names:
            for rr in self.raw_records(zone, name, rtype):
                if rr.get("HealthCheckId") and rr["HealthCheckId"] not in checks:
                    out.append(
                        f"record {name} {rr.get('SetIdentifier')} names a missing health check"
                    )
                target = (rr.get("AliasTarget") or {}).get("DNSName")
                if target and _name(target) not in names:
                    out.append(
                        f"record {name} {rr.get('SetIdentifier')} aliases "
                        f"{target}, which has no records"
                    )
                if not target and not rr.get("ResourceRecords"):
                    out.append(f"record {name} {rr.get('SetIdentifier')} has no value")
        return out

    def raw_records(self, zone: str, name: str, rtype: str) -> list[dict[str, Any]]:
        sets = self.client("route53").list_resource_record_sets(
            HostedZoneId=self.inward(zone.rsplit("/", 1)[-1]),
            StartRecordName=name,
            StartRecordType=rtype,
        )["ResourceRecordSets"]
        return [r for r in sets if _name(r["Name"]) == name and r["Type"] == rtype]

    def healthy(self, region: str, arn: str) -> int:
        found = self.client("elbv2", region).describe_target_health(
            TargetGroupArn=self.inward(arn)
        )["TargetHealthDescriptions"]
        return sum(t["TargetHealth"]["State"] == "healthy" for t in found)

    def undone(
        self,
        before: Mapping[str, Any],
        after: Mapping[str, Any],
        state: RunState,
        records: Sequence[Record],
    ) -> list[str]:
        """Resources whose every applied change was undone are back as they were."""
        touched: dict[str, list[str]] = {}
        for s in self.plan.steps:
            st = state.step(s.id)
            # A failed call changed nothing (the fault layer raises before it).
            if not s.mutating or s.undo is None or st.status in (PENDING, FAILED):
                continue
            for key in self.keys(s, st.params or {}):
                touched.setdefault(key, []).append(s.id)
        kept = {r.step_id for r in records if r.type == api.UNDONE and r.data.get("kept")}
        out = []
        for key, steps in sorted(touched.items()):
            if key not in before or any(sid in kept for sid in steps):
                continue
            if all(state.step(sid).status == UNDONE for sid in steps) and before[key] != after[key]:
                out.append(
                    f"{key}: undone by {', '.join(steps)} but {after[key]} "
                    f"is not {before[key]} as before the run"
                )
        for s in self.plan.steps:  # ... and what the journal says was there is what was there
            st = state.step(s.id)
            was = st.before.get("previous_weights")
            if s.kind == StepKind.ALB_SHIFT and was and s.id == self.first_shift(s, state):
                key = f"listener {s.params.get('rule_arn') or s.params['listener_arn']}"
                if dict(was) != before.get(key):
                    out.append(
                        f"{s.id}: journaled {was} before its first shift, the world "
                        f"had {before.get(key)}"
                    )
        return out

    def first_shift(self, step: Step, state: RunState) -> str | None:
        same = [
            s
            for s in self.plan.steps
            if s.kind == step.kind
            and s.region == step.region
            and s.params.get("listener_arn") == step.params.get("listener_arn")
            and state.step(s.id).intents
        ]
        return same[0].id if same else None

    def keys(self, step: Step, params: Mapping[str, Any]) -> list[str]:
        region = step.region or "us-east-1"
        if step.kind == StepKind.LAMBDA_SHIFT:
            return [f"alias {region} {params['function']}:{params['alias']}"]
        if step.kind == StepKind.ALB_SHIFT:
            return [f"listener {params.get('rule_arn') or params['listener_arn']}"]
        if step.kind in (StepKind.ROUTE53_ROUTING, StepKind.ROUTE53_SHIFT):
            names = [
                params["record_name"],
                *([params["layout"]["active_name"]] if params.get("layout") else []),
            ]
            return [f"records {_name(n)} {params['record_type']}" for n in names]
        if step.kind == StepKind.FLAG_SET and params.get("store", {}).get("kind") == "ssm":
            return [f"flag {region} {str(params['store']['path']).rstrip('/')}/{params['flag']}"]
        if step.kind == StepKind.CLOUDFORMATION_DEPLOY and params.get("stack"):
            return [f"stack {region} {params['stack']}"]
        return invariants_ecs.keys(step, params)


def _name(name: Any) -> str:
    return str(name).lower().rstrip(".") + "."
