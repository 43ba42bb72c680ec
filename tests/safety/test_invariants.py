"""The safety invariants (deployctl/testing/safety.py) for every example
plan x every fault place (each gate breached, each step failed, green's
targets stopped) x a kill at a sampled journal record, on one in-process
embedded AWS.

people-cards runs twice: on a zone where its api name already resolves (so
an undo has something exact to go back to) and on an empty zone (the
issue's failed migration that deleted the api records).  Each test reports
its cases and violations; the run's summary ends with the totals
(deployctl.testing.pytest_plugin.SafetyReport).
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from deployctl.actions.aws import Clients
from deployctl.actions.sandbox import FAKE_KEYS, Sandbox
from deployctl.commands._load import load_plan
from deployctl.core.plan import Plan
from deployctl.testing.safety import embedded_aws, fault_places, kill_points, run_case

ROOT = Path(__file__).resolve().parents[2]
KILLS_PER_FAULT = 1  # one kill, at a sampled record, for every (plan, fault) case
CHUNK = 6  # fault places per test: each test stays well under 10 s
OLD = "people-cards-api-v1.{region}.example.com"


def old_routing(box: Sandbox) -> None:
    """people-cards' api name already resolves (the release before this one)."""
    regions = {"us-east-1": "NA", "eu-west-1": "EU", "ap-southeast-1": "AS"}
    sets = [(region, {"ContinentCode": code}, region) for region, code in regions.items()]
    sets.append(("default", {"CountryCode": "*"}, "us-east-1"))
    changes = [
        {
            "Action": "UPSERT",
            "ResourceRecordSet": {
                "Name": "api.people-cards.example.com.",
                "Type": "CNAME",
                "TTL": 60,
                "SetIdentifier": ident,
                "GeoLocation": geo,
                "ResourceRecords": [{"Value": OLD.format(region=region)}],
            },
        }
        for ident, geo, region in sets
    ]
    box.clients.client("route53").change_resource_record_sets(
        HostedZoneId=box.ids.inward("Z0PEOPLECARDS"), ChangeBatch={"Changes": changes}
    )


# name -> (plan file, what the world holds besides the sandbox's seeding)
EXAMPLES: dict[str, tuple[str, Callable[[Sandbox], None] | None]] = {
    "fraud-or-not": ("fraud-or-not", None),
    "media-register": ("media-register", None),
    "people-cards": ("people-cards", old_routing),
    "people-cards-new-zone": ("people-cards", None),
    "media-register-pipeline": ("media-register-pipeline", None),
    "media-register-ecs": ("media-register-ecs", None),
    "media-register-ecs-services": ("media-register-ecs-services", None),
}


@functools.cache
def plan_of(name: str) -> Plan:
    args = argparse.Namespace(var=[], vars_file=[], region=None)
    return load_plan(str(ROOT / "plans" / f"{name}.yaml"), args)


@pytest.fixture(scope="module")
def clients() -> Iterator[Clients]:
    with embedded_aws() as made:
        yield made


def chunks() -> list[Any]:
    """(example, first fault place) per test; one xdist worker runs a plan's
    chunks, so each seeds the plan's world once (``seeded_world``)."""
    out = []
    with mock_aws():
        clients = Clients(session=boto3.Session(region_name="us-east-1", **FAKE_KEYS))
        for name, (plan, _) in EXAMPLES.items():
            places = len(fault_places(plan_of(plan), clients))
            group = pytest.mark.xdist_group(f"safety-{plan}")
            out += [pytest.param(name, start, marks=group) for start in range(0, places, CHUNK)]
    return out


@pytest.mark.parametrize(("name", "start"), chunks(), ids=str)
def test_no_traffic_goes_to_a_missing_unhealthy_or_unwatched_version(
    name: str,
    start: int,
    clients: Clients,
    record_property: Callable[[str, object], None],
    tmp_path: Path,
) -> None:
    source, setup = EXAMPLES[name]
    plan = plan_of(source)
    places = fault_places(plan, clients)[start : start + CHUNK]
    before: dict[str, Any] | None = None
    cases = 0
    violations: list[str] = []
    for fault in places:
        reference = run_case(plan, fault, None, clients, setup, before, str(tmp_path))
        before = before or reference.before
        cases += 1
        violations += [f"{fault}: {v}" for v in reference.violations]
        # The harness itself: no fault succeeds, every fault is felt.
        if (reference.exit_code == 0) != (fault is None):
            violations.append(
                f"{fault}: exit {reference.exit_code}, the fault was not felt "
                "(or the clean run failed)"
            )
        for kill in kill_points(fault, reference.records, KILLS_PER_FAULT):
            killed = run_case(plan, fault, kill, clients, setup, before, str(tmp_path))
            cases += 1
            where = f"{fault}, killed after record {kill}"
            violations += [f"{where}: {v}" for v in killed.violations]
            if (killed.exit_code, killed.view) != (reference.exit_code, reference.view):
                diff = {
                    k: (reference.view.get(k), v)
                    for k, v in killed.view.items()
                    if reference.view.get(k) != v
                }
                violations.append(
                    f"{where}: ends unlike the uninterrupted run "
                    f"(exit {killed.exit_code} vs {reference.exit_code}): {diff}"
                )
    # Summed at the end of the run (SafetyReport), from every xdist worker.
    record_property("safety", {"example": name, "cases": cases, "violations": len(violations)})
    assert violations == [], "\n".join(violations)
