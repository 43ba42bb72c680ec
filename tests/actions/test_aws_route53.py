"""Route 53 actions against in-process moto: weighted blue/green and per-region routing."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from deployctl.actions import route53, route53_routing
from deployctl.actions.aws import Clients
from deployctl.actions.common import ActionError
from deployctl.core.ports import Registry
from deployctl.errors import ResourceChanged
from deployctl.testing.aws import REGION, Calls, request

NAME = "api.example.com"


@pytest.fixture
def registry(clients: Clients) -> Registry:
    reg = Registry()
    route53.register(reg, clients)
    route53_routing.register(reg, clients)
    return reg


@pytest.fixture
def zone(clients: Clients) -> tuple[Any, str]:
    client = clients.client("route53", REGION)
    zone_id = client.create_hosted_zone(Name="example.com", CallerReference="t")["HostedZone"][
        "Id"
    ].split("/")[-1]
    return client, zone_id


def weighted(zone: tuple[Any, str], **extra: Any) -> dict[str, Any]:
    return {
        "hosted_zone_id": zone[1],
        "record_name": NAME,
        "record_type": "CNAME",
        "ttl": 60,
        "blue": {"set_identifier": "blue", "value": "blue.example.com"},
        "green": {"set_identifier": "green", "value": "green.example.com"},
        **extra,
    }


def live_sets(zone: tuple[Any, str]) -> dict[str, dict[str, Any]]:
    client, zone_id = zone
    sets = client.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return {s["SetIdentifier"]: s for s in sets if s.get("SetIdentifier")}


def weights(zone: tuple[Any, str]) -> dict[str, int]:
    return {i: s["Weight"] for i, s in live_sets(zone).items()}


@pytest.fixture
def blue_live(registry: Registry, zone: tuple[Any, str]) -> tuple[Any, str]:
    """blue at 100, green at 0: the state before a blue/green deployment."""
    registry.get("route53.shift").apply(
        request("route53.shift", weighted(zone, to="blue", weight=100))
    )
    return zone


def test_discover_reads_the_larger_weight(registry: Registry, blue_live: Any) -> None:
    out = registry.get("route53.discover").apply(request("route53.discover", weighted(blue_live)))
    assert out == {"live_color": "blue", "idle_color": "green"}


def test_discover_without_records_is_a_clear_error(registry: Registry, zone: Any) -> None:
    with pytest.raises(ActionError, match="no weighted records"):
        registry.get("route53.discover").apply(request("route53.discover", weighted(zone)))


def test_shift_round_trip_and_undo_restores_previous_weights(
    registry: Registry, blue_live: Any
) -> None:
    action = registry.get("route53.shift")
    req = request("route53.shift", weighted(blue_live, to="green", weight=10))
    assert not action.observe(req).applied
    out = action.apply(req)
    assert weights(blue_live) == {"blue": 90, "green": 10}
    assert action.observe(req).applied
    assert out == {"previous_weights": {"blue": 100, "green": 0}}
    req50 = request("route53.shift", weighted(blue_live, to="green", weight=50))
    out50 = action.apply(req50)
    action.undo(req50, out50)
    assert weights(blue_live) == {"blue": 90, "green": 10}
    action.undo(req, out)
    assert weights(blue_live) == {"blue": 100, "green": 0}


def test_shifting_twice_sends_one_change_batch(
    registry: Registry, blue_live: Any, calls: Calls
) -> None:
    before = calls["ChangeResourceRecordSets"]
    req = request("route53.shift", weighted(blue_live, to="green", weight=100))
    registry.get("route53.shift").apply(req)
    registry.get("route53.shift").apply(req)
    assert calls["ChangeResourceRecordSets"] == before + 1
    assert weights(blue_live) == {"blue": 0, "green": 100}


def test_undo_of_a_reconciled_shift_puts_the_other_side_back_at_100(
    registry: Registry, blue_live: Any
) -> None:
    # Only a journal with no ``before`` record (older runs) gets this guess.
    req = request("route53.shift", weighted(blue_live, to="green", weight=25))
    registry.get("route53.shift").apply(req)
    registry.get("route53.shift").undo(req, registry.get("route53.shift").observe(req).outputs)
    assert weights(blue_live) == {"blue": 100, "green": 0}


def test_before_reads_the_weights_undo_restores_after_a_reconciled_shift(
    registry: Registry, blue_live: Any
) -> None:
    action = registry.get("route53.shift")
    action.apply(request("route53.shift", weighted(blue_live, to="green", weight=30)))
    req = request("route53.shift", weighted(blue_live, to="green", weight=100))
    before = action.before(req)
    assert before == {"previous_weights": {"blue": 70, "green": 30}}
    action.apply(req)  # lands; the process dies before its done record
    action.undo(req, {**before, **action.observe(req).outputs})
    assert weights(blue_live) == {"blue": 70, "green": 30}


def test_records_not_as_journaled_stop_the_shift_naming_them_and_write_nothing(
    registry: Registry, blue_live: Any, calls: Calls
) -> None:
    action = registry.get("route53.shift")
    req = request("route53.shift", weighted(blue_live, to="green", weight=50))
    before = action.before(req)
    action.apply(request("route53.shift", weighted(blue_live, to="green", weight=10)))
    sent = calls["ChangeResourceRecordSets"]
    with pytest.raises(
        ResourceChanged,
        match=r"route53-record .* api\.example\.com\. CNAME changed underneath this run: weights \{'blue': 100, 'green': 0\} as journaled before this step -> weights \{'blue': 90, 'green': 10\}",
    ):
        action.apply(replace(req, before=before))
    assert calls["ChangeResourceRecordSets"] == sent
    assert weights(blue_live) == {"blue": 90, "green": 10}


def test_weighted_reads_ignore_neighbouring_names(registry: Registry, blue_live: Any) -> None:
    client, zone_id = blue_live
    client.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": "www.example.com",
                        "Type": "CNAME",
                        "SetIdentifier": "blue",
                        "Weight": 1,
                        "TTL": 60,
                        "ResourceRecords": [{"Value": "elsewhere.example.com"}],
                    },
                }
            ]
        },
    )
    out = registry.get("route53.discover").apply(request("route53.discover", weighted(blue_live)))
    assert out["live_color"] == "blue"


# --- routing ------------------------------------------------------------------------


def routing(zone: Any, policy: str, records: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "hosted_zone_id": zone[1],
        "record_name": NAME,
        "record_type": "CNAME",
        "ttl": 60,
        "policy": policy,
        "records": records,
        "failover": {},
        **extra,
    }


REGIONS = {
    "us-east-1": "us.example.com",
    "eu-west-1": "eu.example.com",
    "ap-southeast-1": "ap.example.com",
}


def test_latency_routing_round_trip_and_undo_deletes_what_it_created(
    registry: Registry, zone: Any
) -> None:
    action = registry.get("route53.routing")
    req = request("route53.routing", routing(zone, "latency", REGIONS))
    assert not action.observe(req).applied
    out = action.apply(req)
    sets = live_sets(zone)
    assert {i: s["Region"] for i, s in sets.items()} == {r: r for r in REGIONS}
    assert action.observe(req).applied
    name = "api.example.com."
    assert out == {"previous": [], "created": [[name, r] for r in REGIONS], "health_checks": {}}
    # The name serves traffic now: undo keeps its last records, and says so.
    kept = action.undo(req, out)
    assert kept is not None and "kept 3 record(s)" in kept["note"]
    assert set(live_sets(zone)) == set(REGIONS)


def test_routing_undo_deletes_what_it_created_when_other_records_stay(
    registry: Registry, zone: Any
) -> None:
    action = registry.get("route53.routing")
    first = {"us-east-1": REGIONS["us-east-1"]}
    action.apply(request("route53.routing", routing(zone, "latency", first)))
    req = request("route53.routing", routing(zone, "latency", REGIONS))
    out = action.apply(req)
    assert action.undo(req, out) is None
    assert set(live_sets(zone)) == {"us-east-1"}


def test_routing_undo_restores_records_that_existed(registry: Registry, zone: Any) -> None:
    action = registry.get("route53.routing")
    action.apply(request("route53.routing", routing(zone, "latency", REGIONS)))
    moved = {**REGIONS, "eu-west-1": "eu2.example.com"}
    req = request("route53.routing", routing(zone, "latency", moved))
    out = action.apply(req)
    assert live_sets(zone)["eu-west-1"]["ResourceRecords"] == [{"Value": "eu2.example.com"}]
    action.undo(req, out)
    assert live_sets(zone)["eu-west-1"]["ResourceRecords"] == [{"Value": "eu.example.com"}]


def test_routing_before_names_what_the_records_replace_and_create(
    registry: Registry, zone: Any
) -> None:
    action = registry.get("route53.routing")
    action.apply(request("route53.routing", routing(zone, "latency", REGIONS)))
    moved = {**REGIONS, "eu-west-1": "eu2.example.com"}
    req = request("route53.routing", routing(zone, "latency", moved))
    before = action.before(req)
    action.apply(req)  # lands; reconciled on resume, with no outputs of its own
    action.undo(req, {**before, **action.observe(req).outputs})
    assert live_sets(zone)["eu-west-1"]["ResourceRecords"] == [{"Value": "eu.example.com"}]


def test_routing_twice_is_one_change(registry: Registry, zone: Any, calls: Calls) -> None:
    req = request("route53.routing", routing(zone, "latency", REGIONS))
    registry.get("route53.routing").apply(req)
    second = registry.get("route53.routing").apply(req)
    assert calls["ChangeResourceRecordSets"] == 1
    assert second["created"] == []


def test_geolocation_routing_maps_regions_to_continents_with_a_default(
    registry: Registry, zone: Any
) -> None:
    req = request("route53.routing", routing(zone, "geolocation", REGIONS))
    registry.get("route53.routing").apply(req)
    geo = {i: s["GeoLocation"] for i, s in live_sets(zone).items()}
    assert geo == {
        "us-east-1": {"ContinentCode": "NA"},
        "eu-west-1": {"ContinentCode": "EU"},
        "ap-southeast-1": {"ContinentCode": "AS"},
        "default": {"CountryCode": "*"},
    }
    assert live_sets(zone)["default"]["ResourceRecords"] == [{"Value": "us.example.com"}]


def test_geolocation_refuses_two_regions_on_one_continent(registry: Registry, zone: Any) -> None:
    records = {"us-east-1": "a.example.com", "us-west-2": "b.example.com"}
    with pytest.raises(ActionError, match="both in continent NA"):
        registry.get("route53.routing").apply(
            request("route53.routing", routing(zone, "geolocation", records))
        )


def test_failover_routing_marks_the_primary_and_the_secondary(
    registry: Registry, zone: Any
) -> None:
    records = {"us-east-1": "us.example.com", "us-west-2": "west.example.com"}
    req = request(
        "route53.routing", routing(zone, "failover", records, failover={"us-east-1": "PRIMARY"})
    )
    registry.get("route53.routing").apply(req)
    assert {i: s["Failover"] for i, s in live_sets(zone).items()} == {
        "us-east-1": "PRIMARY",
        "us-west-2": "SECONDARY",
    }
