"""CloudFront blue/green: the default cache behaviour's origin is the live side.

At 100% the primary distribution's ``DefaultCacheBehavior.TargetOriginId``
switches to the new side, written with ``IfMatch`` on the ETag just read, so
a concurrent edit makes the call fail instead of being overwritten.  Below
100% traffic goes through *continuous deployment*: a staging copy of the
distribution that targets the new side, and a policy sending
``SingleWeight`` (at most 15%) of requests to it, attached to the primary.
A promotion detaches the policy in the same write that switches the origin.

The plan diff reads one resource per distribution,
``cloudfront-distribution ID``: the origin the default cache behaviour
targets and the attached policy's weight.  That is one
``GetDistributionConfig``, plus one ``GetContinuousDeploymentPolicy`` only
while a policy is attached (the distribution names the policy, nothing
returns both).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from deployctl.actions.aws import Clients
from deployctl.actions.common import ActionError, ReadAction, other
from deployctl.core.kinds import StepKind
from deployctl.core.params import CloudFrontDistribution, CloudFrontShiftParams
from deployctl.core.plan import Step
from deployctl.core.ports import Action, Observation, Preview, Registry, ResourceState, StepRequest
from deployctl.core.refs import is_unresolved

MAX_STAGING_WEIGHT = 15  # percent: CloudFront's SingleWeight limit


class _Distribution:
    """One primary distribution, its config read once with its ETag."""

    def __init__(self, clients: Clients, step: Step, target: CloudFrontDistribution) -> None:
        self.kind = step.kind
        self.target = target
        self.id = str(target.distribution_id)
        self.client = clients.client("cloudfront", step.region)
        got = self.client.get_distribution_config(Id=self.id)
        self.etag: str = got["ETag"]
        self.config: dict[str, Any] = got["DistributionConfig"]

    def origin(self, color: str) -> str:
        return _origin(self.target, color)

    def live(self) -> str:
        return _color(self.kind, self.target, self.config["DefaultCacheBehavior"]["TargetOriginId"])

    @property
    def policy_id(self) -> str:
        return str(self.config.get("ContinuousDeploymentPolicyId") or "")

    def write(self, config: Mapping[str, Any]) -> None:
        try:
            self.client.update_distribution(
                Id=self.id, IfMatch=self.etag, DistributionConfig=config
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "PreconditionFailed":
                raise ActionError(
                    self.kind,
                    f"{self.id} changed while deployctl was writing it; look at it before retrying",
                ) from exc
            raise

    def switch(self, color: str, detach: bool) -> bool:
        """Point the default cache behaviour at ``color``; False if nothing to do."""
        wanted = self.origin(color)
        attached = bool(self.policy_id)
        if self.config["DefaultCacheBehavior"]["TargetOriginId"] == wanted and not (
            detach and attached
        ):
            return False
        config = copy.deepcopy(self.config)
        config["DefaultCacheBehavior"]["TargetOriginId"] = wanted
        if detach and attached:
            config["ContinuousDeploymentPolicyId"] = ""
        self.write(config)
        return True

    # -- continuous deployment -------------------------------------------------

    def policy(self, policy_id: str) -> tuple[dict[str, Any], str]:
        got = self.client.get_continuous_deployment_policy(Id=policy_id)
        return got["ContinuousDeploymentPolicy"]["ContinuousDeploymentPolicyConfig"], got["ETag"]

    def set_weight(
        self, policy_id: str, weight: int, got: tuple[dict[str, Any], str] | None = None
    ) -> bool:
        config, etag = got or self.policy(policy_id)
        if _weight(config) == weight and config.get("Enabled"):
            return False
        config = {**config, "Enabled": True, "TrafficConfig": _traffic(weight)}
        self.client.update_continuous_deployment_policy(
            Id=policy_id, IfMatch=etag, ContinuousDeploymentPolicyConfig=config
        )
        return True

    def stage(self, color: str, weight: int, token: str) -> dict[str, Any]:
        """A staging copy on ``color`` and a policy at ``weight``, attached."""
        staged = self.client.copy_distribution(
            PrimaryDistributionId=self.id,
            Staging=True,
            IfMatch=self.etag,
            CallerReference=f"deployctl-{token}",
            Enabled=True,
        )
        staging = staged["Distribution"]
        config = copy.deepcopy(staging["DistributionConfig"])
        config["DefaultCacheBehavior"]["TargetOriginId"] = self.origin(color)
        self.client.update_distribution(
            Id=staging["Id"], IfMatch=staged["ETag"], DistributionConfig=config
        )
        made = self.client.create_continuous_deployment_policy(
            ContinuousDeploymentPolicyConfig={
                "StagingDistributionDnsNames": {"Quantity": 1, "Items": [staging["DomainName"]]},
                "Enabled": True,
                "TrafficConfig": _traffic(weight),
            }
        )
        policy_id = made["ContinuousDeploymentPolicy"]["Id"]
        primary = copy.deepcopy(self.config)
        primary["ContinuousDeploymentPolicyId"] = policy_id
        self.write(primary)
        return {"policy_id": policy_id, "staging_distribution_id": staging["Id"]}


def _origin(target: CloudFrontDistribution, color: str) -> str:
    return str(target.blue_origin if color == "blue" else target.green_origin)


def _color(kind: str, target: CloudFrontDistribution, origin: str) -> str:
    """The side whose origin the default cache behaviour targets."""
    for color in ("blue", "green"):
        if origin == _origin(target, color):
            return color
    raise ActionError(
        kind,
        f"{target.distribution_id}: default cache behaviour targets {origin!r}, "
        "neither the blue nor the green origin",
    )


def _traffic(weight: int) -> dict[str, Any]:
    return {"Type": "SingleWeight", "SingleWeightConfig": {"Weight": weight / 100.0}}


def _weight(policy: Mapping[str, Any]) -> int:
    single = (policy.get("TrafficConfig") or {}).get("SingleWeightConfig") or {}
    return round(float(single.get("Weight", 0.0)) * 100)


# -- the plan diff ---------------------------------------------------------------

NEW_POLICY = "new"  # the policy id of a policy the run would create


def distribution_key(target: CloudFrontDistribution) -> str:
    return f"cloudfront-distribution {target.distribution_id}"


def _display(target: CloudFrontDistribution, state: Mapping[str, Any]) -> str:
    """``origin blue; 5% to staging (policy E1)``, from the side's colour."""
    origin = f"origin {_color('cloudfront', target, state['origin'])}"
    policy = state.get("policy")
    if not state["policy_id"] or policy is None:
        return f"{origin}; no continuous deployment"
    if state["policy_id"] == NEW_POLICY:
        return f"{origin}; {policy['weight']}% to a new staging copy on {state['staging']}"
    if not policy["enabled"]:
        return f"{origin}; staging policy {state['policy_id']} disabled"
    return f"{origin}; {policy['weight']}% to staging (policy {state['policy_id']})"


class _Observed(Action):
    """The plan diff of both CloudFront actions: one distribution each."""

    clients: Clients

    def resources(self, step: Step, params: Mapping[str, Any]) -> tuple[str, ...]:
        return (distribution_key(CloudFrontDistribution.from_params(params)),)

    def describe(self, step: Step, params: Mapping[str, Any], key: str) -> ResourceState:
        target = CloudFrontDistribution.from_params(params)
        dist = _Distribution(self.clients, step, target)
        state: dict[str, Any] = {
            "origin": dist.config["DefaultCacheBehavior"]["TargetOriginId"],
            "policy_id": dist.policy_id or None,
            "policy": None,
        }
        if dist.policy_id:
            config, _ = dist.policy(dist.policy_id)
            state["policy"] = {"enabled": bool(config.get("Enabled")), "weight": _weight(config)}
        return ResourceState(key, state, _display(target, state))


class Discover(_Observed, ReadAction):
    """``cloudfront.discover``: the side the default cache behaviour targets is live."""

    def __init__(self, clients: Clients) -> None:
        self.clients = clients

    def preview(self, step: Step, params: Mapping[str, Any], states: Mapping[str, Any]) -> Preview:
        target = CloudFrontDistribution.from_params(params)
        state = states[distribution_key(target)]
        live = _color(step.kind, target, state["origin"])
        return Preview(
            _display(target, state), False, outputs={"live_color": live, "idle_color": other(live)}
        )

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        target = CloudFrontDistribution.from_params(request.params)
        live = _Distribution(self.clients, request.step, target).live()
        return {"live_color": live, "idle_color": other(live)}


class Shift(_Observed):
    """``cloudfront.shift``: promote at 100% (switch the origin), otherwise set
    the continuous-deployment weight.  Outputs what undo needs: the previous
    origin side, or the policy and its previous weight (0 = it was not attached)."""

    def __init__(self, clients: Clients) -> None:
        self.clients = clients

    def _shift(self, request: StepRequest) -> tuple[_Distribution, str, int]:
        """The distribution, ``to`` and the checked weight."""
        p = CloudFrontShiftParams.from_params(request.params)
        return _Distribution(self.clients, request.step, p.target), str(p.to), self._weight(request)

    def _weight(self, request: StepRequest) -> int:
        weight = int(CloudFrontShiftParams.from_params(request.params).weight)
        if not 0 < weight <= 100 or MAX_STAGING_WEIGHT < weight < 100:
            raise ActionError(
                request.step.kind,
                f"weight {weight}: CloudFront sends 1..15% to "
                "a staging distribution, or promotes at 100%",
            )
        return weight

    def preview(self, step: Step, params: Mapping[str, Any], states: Mapping[str, Any]) -> Preview:
        p = CloudFrontShiftParams.from_params(params)
        key = distribution_key(p.target)
        live = states[key]
        to, weight = str(p.to), int(p.weight)
        if is_unresolved(to):
            return Preview(f"{weight}% to the side found at run time", True)
        if weight == 100:
            want: dict[str, Any] = {"origin": _origin(p.target, to), "policy_id": None}
            same = live["origin"] == want["origin"] and not live["policy_id"]
            want["policy"] = None
        elif live["policy_id"]:
            policy = live["policy"] or {}
            same = bool(policy.get("enabled")) and policy.get("weight") == weight
            want = {**live, "policy": {"enabled": True, "weight": weight}}
        else:
            same = False
            policy = {"enabled": True, "weight": weight}
            want = {**live, "policy_id": NEW_POLICY, "policy": policy, "staging": to}
        return Preview(_display(p.target, want), not same, {} if same else {key: want})

    def observe(self, request: StepRequest) -> Observation:
        dist, to, weight = self._shift(request)
        if weight == 100:
            done = dist.live() == to and not dist.policy_id
        else:
            done = bool(dist.policy_id) and _weight(dist.policy(dist.policy_id)[0]) == weight
        return Observation(applied=done, detail=f"{dist.id} live={dist.live()}")

    def before(self, request: StepRequest) -> Mapping[str, Any]:
        dist, _, weight = self._shift(request)
        if weight == 100:
            return {"previous_color": dist.live()}
        if dist.policy_id:
            got = dist.policy(dist.policy_id)
            return {
                "policy_id": dist.policy_id,
                "previous_weight": _weight(got[0]) if got[0].get("Enabled") else 0,
            }
        return {"previous_weight": 0}

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        dist, to, weight = self._shift(request)
        if weight == 100:
            previous = dist.live()
            dist.switch(to, detach=True)
            return {"previous_color": previous}
        if dist.policy_id:
            got = dist.policy(dist.policy_id)
            previous_weight = _weight(got[0]) if got[0].get("Enabled") else 0
            dist.set_weight(dist.policy_id, weight, got)
            return {"policy_id": dist.policy_id, "previous_weight": previous_weight}
        return {**dist.stage(to, weight, request.token), "previous_weight": 0}

    def undo(self, request: StepRequest, outputs: Mapping[str, Any]) -> None:
        p = CloudFrontShiftParams.from_params(request.params)
        dist = _Distribution(self.clients, request.step, p.target)
        if int(p.weight) == 100:
            dist.switch(str(outputs.get("previous_color") or other(str(p.to))), detach=False)
            return
        policy_id = str(outputs.get("policy_id") or dist.policy_id)
        previous = int(outputs.get("previous_weight") or 0)
        if previous > 0 and policy_id:
            dist.set_weight(policy_id, previous)
        elif dist.policy_id:  # the policy was this step's: detach it, all traffic on primary
            config = copy.deepcopy(dist.config)
            config["ContinuousDeploymentPolicyId"] = ""
            dist.write(config)


def register(registry: Registry, clients: Clients) -> None:
    registry.register(StepKind.CLOUDFRONT_DISCOVER, Discover(clients))
    registry.register(StepKind.CLOUDFRONT_SHIFT, Shift(clients))
