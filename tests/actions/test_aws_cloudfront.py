"""CloudFront actions and their plan diff.  moto models distributions
(discover, the 100% origin switch) but not continuous deployment policies or
staging copies, so the canary stages below 100% and the diff of an attached
policy are tested with botocore's Stubber and the real request shapes (tests
named ``test_stubber_...``)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import Stubber

from deployctl.actions.aws import Clients
from deployctl.actions.cloudfront import register
from deployctl.actions.common import ActionError
from deployctl.core.ports import Registry
from deployctl.execute.observe import observe
from deployctl.manifest.load import LoadOptions, load_text
from deployctl.plan.compile import compile_plan
from deployctl.testing.aws import REGION, Calls, request


@pytest.fixture
def registry(clients: Clients) -> Registry:
    reg = Registry()
    register(reg, clients)
    return reg


def dist_config(target: str = "blue-origin", policy: str = "") -> dict[str, Any]:
    origins = [
        {
            "Id": f"{c}-origin",
            "DomainName": f"{c}.example.com",
            "CustomOriginConfig": {
                "HTTPPort": 80,
                "HTTPSPort": 443,
                "OriginProtocolPolicy": "https-only",
            },
        }
        for c in ("blue", "green")
    ]
    config: dict[str, Any] = {
        "CallerReference": "ref",
        "Comment": "",
        "Enabled": True,
        "Origins": {"Quantity": 2, "Items": origins},
        "DefaultCacheBehavior": {
            "TargetOriginId": target,
            "ViewerProtocolPolicy": "allow-all",
            "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
        },
    }
    if policy:
        config["ContinuousDeploymentPolicyId"] = policy
    return config


@pytest.fixture
def dist(clients: Clients) -> tuple[Any, str]:
    client = clients.client("cloudfront", REGION)
    made = client.create_distribution(DistributionConfig=dist_config())
    return client, made["Distribution"]["Id"]


def params(dist_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "distribution_id": dist_id,
        "blue_origin": "blue-origin",
        "green_origin": "green-origin",
        **extra,
    }


def origin(dist: tuple[Any, str]) -> str:
    client, dist_id = dist
    return str(
        client.get_distribution_config(Id=dist_id)["DistributionConfig"]["DefaultCacheBehavior"][
            "TargetOriginId"
        ]
    )


def test_discover_reads_the_default_cache_behaviour(registry: Registry, dist: Any) -> None:
    out = registry.get("cloudfront.discover").apply(request("cloudfront.discover", params(dist[1])))
    assert out == {"live_color": "blue", "idle_color": "green"}


def test_switch_at_100_round_trip_sends_if_match_and_undo_switches_back(
    registry: Registry, dist: Any, clients: Clients
) -> None:
    sent: list[dict[str, Any]] = []
    clients.client("cloudfront", REGION).meta.events.register(
        "provide-client-params.cloudfront.UpdateDistribution",
        lambda params, **_: sent.append(dict(params)),
    )
    action = registry.get("cloudfront.shift")
    req = request("cloudfront.shift", params(dist[1], to="green", weight=100))
    assert not action.observe(req).applied
    out = action.apply(req)
    assert origin(dist) == "green-origin"
    assert out == {"previous_color": "blue"}
    assert action.observe(req).applied
    etag = dist[0].get_distribution_config(Id=dist[1])["ETag"]
    assert sent[0]["IfMatch"] == etag
    action.undo(req, out)
    assert origin(dist) == "blue-origin"


def test_switching_twice_makes_one_update(registry: Registry, dist: Any, calls: Calls) -> None:
    req = request("cloudfront.shift", params(dist[1], to="green", weight=100))
    registry.get("cloudfront.shift").apply(req)
    registry.get("cloudfront.shift").apply(req)
    assert calls["UpdateDistribution"] == 1


def test_shift_refuses_more_than_15_percent_below_promotion(registry: Registry, dist: Any) -> None:
    with pytest.raises(ActionError, match=r"1\.\.15%"):
        registry.get("cloudfront.shift").apply(
            request("cloudfront.shift", params(dist[1], to="green", weight=25))
        )


# --- continuous deployment, with Stubber ---------------------------------------------

PRIMARY, STAGING, POLICY = "EPRIMARY", "ESTAGING", "policy-1"


@pytest.fixture
def stub(clients: Clients) -> Iterator[Stubber]:
    with Stubber(clients.client("cloudfront", REGION)) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def policy_config(weight: float, enabled: bool = True) -> dict[str, Any]:
    return {
        "StagingDistributionDnsNames": {"Quantity": 1, "Items": ["staging.cloudfront.net"]},
        "Enabled": enabled,
        "TrafficConfig": {"Type": "SingleWeight", "SingleWeightConfig": {"Weight": weight}},
    }


def distribution(dist_id: str, config: dict[str, Any], domain: str) -> dict[str, Any]:
    return {
        "Id": dist_id,
        "ARN": f"arn:aws:cloudfront::123456789012:distribution/{dist_id}",
        "Status": "Deployed",
        "LastModifiedTime": "2024-01-20T00:00:00Z",
        "InProgressInvalidationBatches": 0,
        "DomainName": domain,
        "ActiveTrustedSigners": {"Enabled": False, "Quantity": 0},
        "DistributionConfig": config,
    }


def expect_get(stub: Stubber, config: dict[str, Any], etag: str = "E1") -> None:
    stub.add_response(
        "get_distribution_config", {"DistributionConfig": config, "ETag": etag}, {"Id": PRIMARY}
    )


def expect_policy(stub: Stubber, weight: float, enabled: bool = True) -> None:
    stub.add_response(
        "get_continuous_deployment_policy",
        {
            "ContinuousDeploymentPolicy": {
                "Id": POLICY,
                "LastModifiedTime": "2024-01-20T00:00:00Z",
                "ContinuousDeploymentPolicyConfig": policy_config(weight, enabled),
            },
            "ETag": "P1",
        },
        {"Id": POLICY},
    )


def stage(weight: int) -> Any:
    return request("cloudfront.shift", params(PRIMARY, to="green", weight=weight))


def test_stubber_first_canary_stage_copies_to_staging_and_attaches_a_5_percent_policy(
    registry: Registry, stub: Stubber
) -> None:
    expect_get(stub, dist_config())
    staging_config = dist_config()
    stub.add_response(
        "copy_distribution",
        {
            "Distribution": distribution(STAGING, staging_config, "staging.cloudfront.net"),
            "ETag": "S1",
        },
        {
            "PrimaryDistributionId": PRIMARY,
            "Staging": True,
            "IfMatch": "E1",
            "CallerReference": "deployctl-tok-1",
            "Enabled": True,
        },
    )
    stub.add_response(
        "update_distribution",
        {"Distribution": distribution(STAGING, dist_config("green-origin"), "s"), "ETag": "S2"},
        {"Id": STAGING, "IfMatch": "S1", "DistributionConfig": dist_config("green-origin")},
    )
    stub.add_response(
        "create_continuous_deployment_policy",
        {
            "ContinuousDeploymentPolicy": {
                "Id": POLICY,
                "LastModifiedTime": "2024-01-20T00:00:00Z",
                "ContinuousDeploymentPolicyConfig": policy_config(0.05),
            },
            "ETag": "P1",
        },
        {"ContinuousDeploymentPolicyConfig": policy_config(0.05)},
    )
    attached = dist_config(policy=POLICY)
    stub.add_response(
        "update_distribution",
        {"Distribution": distribution(PRIMARY, attached, "p"), "ETag": "E2"},
        {"Id": PRIMARY, "IfMatch": "E1", "DistributionConfig": attached},
    )
    out = registry.get("cloudfront.shift").apply(stage(5))
    assert out == {"policy_id": POLICY, "staging_distribution_id": STAGING, "previous_weight": 0}


def test_stubber_next_stage_only_updates_the_policy_weight(
    registry: Registry, stub: Stubber
) -> None:
    expect_get(stub, dist_config(policy=POLICY))
    expect_policy(stub, 0.05)
    stub.add_response(
        "update_continuous_deployment_policy",
        {
            "ContinuousDeploymentPolicy": {
                "Id": POLICY,
                "LastModifiedTime": "2024-01-20T00:00:00Z",
                "ContinuousDeploymentPolicyConfig": policy_config(0.15),
            },
            "ETag": "P2",
        },
        {"Id": POLICY, "IfMatch": "P1", "ContinuousDeploymentPolicyConfig": policy_config(0.15)},
    )
    out = registry.get("cloudfront.shift").apply(stage(15))
    assert out == {"policy_id": POLICY, "previous_weight": 5}


def test_stubber_a_stage_already_at_its_weight_changes_nothing(
    registry: Registry, stub: Stubber
) -> None:
    expect_get(stub, dist_config(policy=POLICY))
    expect_policy(stub, 0.15)
    assert registry.get("cloudfront.shift").observe(stage(15)).applied
    expect_get(stub, dist_config(policy=POLICY))
    expect_policy(stub, 0.15)
    registry.get("cloudfront.shift").apply(stage(15))  # no update call is stubbed


def test_stubber_promotion_switches_the_origin_and_detaches_the_policy(
    registry: Registry, stub: Stubber
) -> None:
    expect_get(stub, dist_config(policy=POLICY))
    promoted = dist_config("green-origin")
    promoted["ContinuousDeploymentPolicyId"] = ""
    stub.add_response(
        "update_distribution",
        {"Distribution": distribution(PRIMARY, promoted, "p"), "ETag": "E2"},
        {"Id": PRIMARY, "IfMatch": "E1", "DistributionConfig": promoted},
    )
    assert registry.get("cloudfront.shift").apply(stage(100)) == {"previous_color": "blue"}


def test_stubber_undo_of_a_later_stage_restores_the_previous_weight(
    registry: Registry, stub: Stubber
) -> None:
    expect_get(stub, dist_config(policy=POLICY))
    expect_policy(stub, 0.15)
    stub.add_response(
        "update_continuous_deployment_policy",
        {
            "ContinuousDeploymentPolicy": {
                "Id": POLICY,
                "LastModifiedTime": "2024-01-20T00:00:00Z",
                "ContinuousDeploymentPolicyConfig": policy_config(0.05),
            },
            "ETag": "P3",
        },
        {"Id": POLICY, "IfMatch": "P1", "ContinuousDeploymentPolicyConfig": policy_config(0.05)},
    )
    registry.get("cloudfront.shift").undo(stage(15), {"policy_id": POLICY, "previous_weight": 5})


def test_stubber_undo_of_the_first_stage_detaches_the_policy(
    registry: Registry, stub: Stubber
) -> None:
    expect_get(stub, dist_config(policy=POLICY))
    detached = copy.deepcopy(dist_config())
    detached["ContinuousDeploymentPolicyId"] = ""
    stub.add_response(
        "update_distribution",
        {"Distribution": distribution(PRIMARY, detached, "p"), "ETag": "E2"},
        {"Id": PRIMARY, "IfMatch": "E1", "DistributionConfig": detached},
    )
    registry.get("cloudfront.shift").undo(stage(5), {"policy_id": POLICY, "previous_weight": 0})


# --- the plan diff --------------------------------------------------------------------

CANARY = """
apiVersion: deployctl/v1
kind: Deployment
metadata: {project: demo, environment: prod}
aws: {region: us-east-1}
target:
  cloudfront: {distribution_id: DIST, blue_origin: blue-origin, green_origin: green-origin}
strategy:
  type: canary
  stages:
    - {traffic: 5, duration: 5m}
    - {traffic: 15, duration: 10m}
    - {traffic: 100, duration: stable}
"""


def observed(registry: Registry, dist_id: str) -> Any:
    text = CANARY.replace("DIST", dist_id)
    plan = compile_plan(load_text(text, "canary.yaml", LoadOptions()), "canary.yaml")
    return observe(plan, registry)


def test_the_canary_diff_reads_the_distribution_once_and_shows_each_stage(
    registry: Registry, dist: Any, calls: Calls
) -> None:
    calls.seen.clear()
    seen = observed(registry, dist[1])
    key = f"cloudfront-distribution {dist[1]}"
    assert seen.resources[key].display == "origin blue; no continuous deployment"
    assert [(p.step_id, p.after, p.changes) for p in seen.previews] == [
        ("us-east-1/discover", "origin blue; no continuous deployment", False),
        ("us-east-1/canary/stage-1/shift", "origin blue; 5% to a new staging copy on green", True),
        ("us-east-1/canary/stage-2/shift", "origin blue; 15% to a new staging copy on green", True),
        ("us-east-1/canary/stage-3/shift", "origin green; no continuous deployment", True),
    ]
    assert dict(calls.seen) == {"GetDistributionConfig": 1}


def test_a_promotion_already_live_is_unchanged(registry: Registry, dist: Any) -> None:
    registry.get("cloudfront.shift").apply(
        request("cloudfront.shift", params(dist[1], to="green", weight=100))
    )
    req = request("cloudfront.shift", params(dist[1], to="green", weight=100))
    action = registry.get("cloudfront.shift")
    key = f"cloudfront-distribution {dist[1]}"
    state = action.describe(req.step, req.params, key)
    preview = action.preview(req.step, req.params, {key: state.state})
    assert (preview.after, preview.changes) == ("origin green; no continuous deployment", False)


def test_stubber_diff_reads_the_attached_policy_and_previews_its_weight(
    registry: Registry, stub: Stubber, calls: Calls
) -> None:
    expect_get(stub, dist_config(policy=POLICY))
    expect_policy(stub, 0.05)
    action = registry.get("cloudfront.shift")
    key = f"cloudfront-distribution {PRIMARY}"
    req = stage(15)
    state = action.describe(req.step, req.params, key)
    assert state.display == f"origin blue; 5% to staging (policy {POLICY})"
    assert dict(calls.seen) == {"GetDistributionConfig": 1, "GetContinuousDeploymentPolicy": 1}
    preview = action.preview(req.step, req.params, {key: state.state})
    assert (preview.after, preview.changes) == (
        f"origin blue; 15% to staging (policy {POLICY})",
        True,
    )
    same = stage(5)
    assert not action.preview(same.step, same.params, {key: state.state}).changes
    promote = stage(100)
    preview = action.preview(promote.step, promote.params, {key: state.state})
    assert (preview.after, preview.changes) == ("origin green; no continuous deployment", True)


def test_stubber_a_disabled_policy_counts_as_a_change_even_at_its_weight(
    registry: Registry, stub: Stubber
) -> None:
    expect_get(stub, dist_config(policy=POLICY))
    expect_policy(stub, 0.05, enabled=False)
    action = registry.get("cloudfront.shift")
    key = f"cloudfront-distribution {PRIMARY}"
    req = stage(5)
    state = action.describe(req.step, req.params, key)
    assert state.display == f"origin blue; staging policy {POLICY} disabled"
    assert action.preview(req.step, req.params, {key: state.state}).changes
