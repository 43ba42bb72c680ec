"""The issue's defects, each replayed on the in-process embedded AWS the
harness uses (deployctl/testing/safety.py): what used to happen, and what
happens now."""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployctl.actions.aws import Clients
from deployctl.commands._load import load_plan
from deployctl.core.plan import Plan
from deployctl.testing.safety import UNHEALTHY, embedded_aws, run_case

ROOT = Path(__file__).resolve().parents[2]
PEOPLE = [f"people-cards-api.{r}.example.com" for r in ("us-east-1", "eu-west-1", "ap-southeast-1")]


@pytest.fixture(scope="module")
def clients() -> Iterator[Clients]:
    with embedded_aws() as made:
        yield made


def plan_from(tmp_path: Path, name: str, *edits: tuple[str, str]) -> Plan:
    text = (ROOT / "plans" / f"{name}.yaml").read_text(encoding="utf-8")
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    if not (tmp_path / "templates").exists():  # what the plan's paths name, beside it
        shutil.copytree(ROOT / "plans" / "templates", tmp_path / "templates")
    return load_plan(str(path), argparse.Namespace(var=[], vars_file=[], region=None))


def values(records: list[dict[str, object]]) -> list[str]:
    return sorted(str(v["Value"]) for r in records for v in r.get("ResourceRecords") or ())  # type: ignore[attr-defined]


def test_a_failed_migration_keeps_the_api_records_every_live_region_is_reached_by(
    clients: Clients, tmp_path: Path
) -> None:
    plan = plan_from(tmp_path, "people-cards")
    done = run_case(plan, "fail@us-east-1/migration/validate", None, clients, base=str(tmp_path))
    assert done.exit_code == 3 and done.violations == []
    assert all(done.view[k][0] == "2" for k in done.view if k.startswith("alias "))
    records = done.view["records api.people-cards.example.com. CNAME"]
    assert values(records) == sorted([*PEOPLE, PEOPLE[0]])  # three regions and the default


def test_the_seeds_failover_config_deploys_all_three_regions_behind_health_checked_records(
    clients: Clients, tmp_path: Path
) -> None:
    plan = plan_from(tmp_path, "people-cards", ("policy: geolocation", "policy: failover"))
    done = run_case(plan, None, None, clients, base=str(tmp_path))
    assert done.exit_code == 0 and done.violations == []
    main = done.view["records api.people-cards.example.com. CNAME"]
    active = done.view["records active.api.people-cards.example.com. CNAME"]
    assert {(r["SetIdentifier"], r["Failover"]) for r in main} == {
        ("primary", "PRIMARY"),
        ("ap-southeast-1", "SECONDARY"),
    }
    assert {r["SetIdentifier"]: r["HealthCheckId"] for r in active} == {
        "us-east-1": "<health check>",
        "eu-west-1": "<health check>",
    }


def test_the_last_stages_threshold_gates_the_watch_after_promotion(
    clients: Clients, tmp_path: Path
) -> None:
    plan = plan_from(
        tmp_path,
        "fraud-or-not",
        (
            "{traffic: 100, duration: stable,         metric_threshold: 0.05}",
            "{traffic: 100, duration: stable,         metric_threshold: 0.02}",
        ),
    )
    # 4% errors after promotion: under the 5% trigger, over the last stage's 2%.
    done = run_case(plan, "ErrorRate=0.04@us-east-1/monitor", None, clients, base=str(tmp_path))
    assert done.exit_code == 3 and done.violations == []
    assert done.view["alias us-east-1 api-handler:live"] == ["1", {}]


def test_blue_green_never_switches_to_a_green_whose_only_target_is_stopped(
    clients: Clients, tmp_path: Path
) -> None:
    plan = plan_from(tmp_path, "media-register", ("health_timeout: 5m", "health_timeout: 1m"))
    done = run_case(plan, UNHEALTHY, None, clients, base=str(tmp_path))
    assert done.exit_code == 3 and done.violations == []
    (failed,) = [r.data["error"] for r in done.journal if r.type == "failed"]
    assert "green side: target group media-register-green has 0 healthy target(s)" in failed
    assert "(Target.InvalidState: Target is in the stopped state)" in failed
    listener = next(v for k, v in done.view.items() if k.startswith("listener "))
    assert listener == {"blue": 100, "green": 0}
    assert not any(v for k, v in done.view.items() if k.startswith("stack "))


def test_blue_drains_for_its_deregistration_delay_after_the_switch(
    clients: Clients, tmp_path: Path
) -> None:
    plan = plan_from(tmp_path, "media-register")
    done = run_case(plan, None, None, clients, base=str(tmp_path))
    assert done.exit_code == 0 and done.violations == []
    drain = [r for r in done.journal if r.step_id == "us-east-1/blue-green/drain"]
    checks = [r.data for r in drain if r.type == "check"]
    assert checks and checks[-1]["window"] == 300.0  # moto's default deregistration delay
    assert checks[-1]["detail"] == "blue at 0%, finishing its requests"
    assert drain[-1].type == "done"
