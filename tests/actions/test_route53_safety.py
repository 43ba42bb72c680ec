"""Route 53 records only point at what passes its health check, failover has
a shape Route 53 accepts, and undo never empties a name that serves.  The
records on in-process moto; failing health checks through botocore's
Stubber (moto's GetHealthCheckStatus always reports success)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from deployctl.actions import route53, route53_routing
from deployctl.actions.aws import Clients
from deployctl.actions.common import ActionError
from deployctl.actions.route53_health import wait_passing
from deployctl.commands._load import load_plan
from deployctl.core.ports import Registry
from deployctl.testing.aws import REGION, request
from deployctl.testing.clock import VirtualClock

PLAN = """\
apiVersion: deployctl/v1
kind: Deployment
metadata: {{project: cards, environment: prod}}
target:
  lambda: {{function: api, alias: live}}
strategy: {{type: all-at-once}}
regions:
  primary: us-east-1
  replicas:
    - {{region: eu-west-1, replication_type: active-active}}
    - {{region: ap-southeast-1, replication_type: active-passive, failover_priority: 2}}
  routing:
    route53:
      hosted_zone_id: {zone}
      record_name: api.example.com
      policy: {policy}
      value: "api.${{region}}.example.com"
"""
FAILURE = {
    "Region": "us-east-1",
    "IPAddress": "203.0.113.9",
    "StatusReport": {
        "Status": "Failure: Connection timed out.",
        "CheckedTime": "2024-01-20T10:00:00Z",
    },
}
SUCCESS = {
    **FAILURE,
    "StatusReport": {
        "Status": "Success: HTTP Status Code 200, OK",
        "CheckedTime": "2024-01-20T10:00:00Z",
    },
}


@pytest.fixture
def registry(clients: Clients) -> Registry:
    reg = Registry()
    route53.register(reg, clients)
    route53_routing.register(reg, clients)
    return reg


@pytest.fixture
def zone(clients: Clients) -> str:
    made = clients.client("route53", REGION).create_hosted_zone(
        Name="example.com", CallerReference="t"
    )
    return str(made["HostedZone"]["Id"]).rsplit("/", 1)[-1]


def routing_params(tmp_path: Path, zone: str, policy: str) -> dict[str, Any]:
    path = tmp_path / f"{policy}.yaml"
    path.write_text(PLAN.format(zone=zone, policy=policy), encoding="utf-8")
    plan = load_plan(str(path), argparse.Namespace(var=[], vars_file=[], region=None))
    return dict(plan.by_id["routing/route53"].params)


def sets(clients: Clients, zone: str) -> dict[tuple[str, str], dict[str, Any]]:
    found = clients.client("route53", REGION).list_resource_record_sets(HostedZoneId=zone)
    return {
        (r["Name"], r["SetIdentifier"]): r
        for r in found["ResourceRecordSets"]
        if r.get("SetIdentifier")
    }


def test_failover_over_three_regions_is_a_primary_alias_over_latency_records_and_a_secondary(
    registry: Registry, clients: Clients, zone: str, tmp_path: Path
) -> None:
    params = routing_params(tmp_path, zone, "failover")
    action = registry.get("route53.routing")
    req = request("route53.routing", params)
    out = action.apply(req)
    live = sets(clients, zone)
    checks = out["health_checks"]
    assert sorted(checks) == ["eu-west-1", "us-east-1"]  # the PRIMARY side, each checked
    assert {
        k: (r.get("Region"), r.get("HealthCheckId"))
        for k, r in live.items()
        if k[0].startswith("active.")
    } == {
        ("active.api.example.com.", "us-east-1"): ("us-east-1", checks["us-east-1"]),
        ("active.api.example.com.", "eu-west-1"): ("eu-west-1", checks["eu-west-1"]),
    }
    primary = live[("api.example.com.", "primary")]
    assert primary["Failover"] == "PRIMARY"
    assert primary["AliasTarget"]["EvaluateTargetHealth"] is True
    assert primary["AliasTarget"]["DNSName"].rstrip(".") == "active.api.example.com"
    secondary = live[("api.example.com.", "ap-southeast-1")]
    assert (secondary["Failover"], secondary["ResourceRecords"]) == (
        "SECONDARY",
        [{"Value": "api.ap-southeast-1.example.com"}],
    )
    # Again: the same health checks are found, not made twice, and nothing changes.
    assert action.observe(req).applied
    assert action.apply(req)["created"] == []
    made = clients.client("route53", REGION).list_health_checks()["HealthChecks"]
    assert len(made) == 2
    config = made[0]["HealthCheckConfig"]
    assert (config["Type"], config["Port"], config["ResourcePath"]) == ("HTTPS", 443, "/")


def test_moving_from_geolocation_to_failover_replaces_the_old_records_and_undo_puts_them_back(
    registry: Registry, clients: Clients, zone: str, tmp_path: Path
) -> None:
    action = registry.get("route53.routing")
    action.apply(request("route53.routing", routing_params(tmp_path, zone, "geolocation")))
    geo = sets(clients, zone)
    assert len(geo) == 4  # three continents and the default
    req = request("route53.routing", routing_params(tmp_path, zone, "failover"))
    out = action.apply(req)
    main = {k for k in sets(clients, zone) if k[0] == "api.example.com."}
    assert main == {("api.example.com.", "primary"), ("api.example.com.", "ap-southeast-1")}
    assert action.undo(req, out) is None
    assert sets(clients, zone) == geo


def test_stubber_a_failing_region_health_check_points_no_record_at_it(
    registry: Registry, clients: Clients, zone: str, tmp_path: Path
) -> None:
    params = routing_params(tmp_path, zone, "latency")
    params["health_checks"] = {r: {"id": f"hc-{r}"} for r in params["records"]}
    params["health_timeout"] = 0
    client = clients.client("route53", REGION)
    with Stubber(client) as stub:
        stub.add_response(
            "get_health_check_status",
            {"HealthCheckObservations": [SUCCESS]},
            {"HealthCheckId": "hc-us-east-1"},
        )
        for region in ("eu-west-1", "ap-southeast-1"):
            stub.add_response(
                "get_health_check_status",
                {"HealthCheckObservations": [FAILURE] * 3},
                {"HealthCheckId": f"hc-{region}"},
            )
        # No ChangeResourceRecordSets is stubbed: one would fail the test.
        with pytest.raises(ActionError) as failed:
            registry.get("route53.routing").apply(request("route53.routing", params))
        stub.assert_no_pending_responses()
    assert "eu-west-1 (hc-eu-west-1): 3 of 3 checkers fail: Failure: Connection timed out." in str(
        failed.value
    )
    assert "no record was pointed at them" in str(failed.value)


def test_stubber_a_weighted_shift_waits_for_the_receiving_sides_health_check(
    registry: Registry, clients: Clients, zone: str
) -> None:
    params = {
        "hosted_zone_id": zone,
        "record_name": "www.example.com",
        "record_type": "CNAME",
        "ttl": 60,
        "to": "green",
        "weight": 100,
        "health_timeout": 0,
        "blue": {"set_identifier": "blue", "value": "blue.example.com"},
        "green": {
            "set_identifier": "green",
            "value": "green.example.com",
            "health_check_id": "hc-green",
        },
    }
    client = clients.client("route53", REGION)
    live = [
        {
            "Name": "www.example.com.",
            "Type": "CNAME",
            "SetIdentifier": c,
            "Weight": w,
            "TTL": 60,
            "ResourceRecords": [{"Value": f"{c}.example.com"}],
        }
        for c, w in (("blue", 100), ("green", 0))
    ]
    with Stubber(client) as stub:
        stub.add_response(
            "list_resource_record_sets",
            {"ResourceRecordSets": live, "IsTruncated": False, "MaxItems": "100"},
        )
        stub.add_response(
            "get_health_check_status",
            {"HealthCheckObservations": [FAILURE, FAILURE]},
            {"HealthCheckId": "hc-green"},
        )
        with pytest.raises(ActionError, match="green \\(hc-green\\): 2 of 2 checkers fail"):
            registry.get("route53.shift").apply(request("route53.shift", params))
        stub.assert_no_pending_responses()


def test_stubber_wait_passing_goes_on_once_more_than_18_percent_of_checkers_succeed(
    clients: Clients,
) -> None:
    client = clients.client("route53", REGION)
    clock = VirtualClock()
    with Stubber(client) as stub:
        stub.add_response("get_health_check_status", {"HealthCheckObservations": []})
        stub.add_response(
            "get_health_check_status", {"HealthCheckObservations": [SUCCESS] + [FAILURE] * 3}
        )
        found = wait_passing(client, {"us-east-1": "hc-1"}, timeout=60, clock=clock)
    assert found == {"us-east-1": "1 of 4 checkers report success"}
    assert clock.slept == [10.0]


def check_ids(clients: Clients) -> set[str]:
    found = clients.client("route53", REGION).list_health_checks()["HealthChecks"]
    return {str(c["Id"]) for c in found}


def test_undo_deletes_the_health_checks_its_apply_created_once_no_record_uses_them(
    registry: Registry, clients: Clients, zone: str, tmp_path: Path
) -> None:
    action = registry.get("route53.routing")
    action.apply(request("route53.routing", routing_params(tmp_path, zone, "geolocation")))
    req = request("route53.routing", routing_params(tmp_path, zone, "failover"))
    out = action.apply(req)
    assert len(check_ids(clients)) == 2
    assert action.undo(req, out) is None
    # The geolocation records are back and nothing is left paying for checks.
    assert check_ids(clients) == set()


def test_undo_keeps_health_checks_that_the_records_it_puts_back_still_use(
    registry: Registry, clients: Clients, zone: str, tmp_path: Path
) -> None:
    action = registry.get("route53.routing")
    req = request("route53.routing", routing_params(tmp_path, zone, "failover"))
    first = action.apply(req)
    # A second run changes nothing; undoing it puts back records that carry
    # the first run's checks, so they stay.
    again = action.apply(req)
    assert again["created"] == []
    assert action.undo(req, again) is None
    assert check_ids(clients) == set(first["health_checks"].values())
    assert {
        r.get("HealthCheckId") for k, r in sets(clients, zone).items() if k[0].startswith("active.")
    } == set(first["health_checks"].values())
