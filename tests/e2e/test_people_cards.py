"""plans/people-cards.yaml as a real ``deployctl apply`` against a moto
server: the rollout in three regions (us-east-1, then eu-west-1, then
ap-southeast-1), the Route 53 geolocation records, the migration and the
flag.  Every outcome is read back from AWS, region by region."""

from __future__ import annotations

from pathlib import Path

from deployctl.testing.cli import run_cli
from deployctl.testing.moto import MotoServer
from deployctl.testing.worlds import people

ON = {"allowlist": [], "enabled": True, "percentage": 100}


def test_healthy_regions_all_serve_version_2_with_records_flags_and_the_migration_done(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    zone = people.build(moto_server)
    people.healthy(moto_server)
    moto_server.lambda_answers({"migrated": 1200})
    log = tmp_path / "cleanup.log"
    done = run_cli(
        *people.apply_argv(moto_server, tmp_path / "state", zone, "--auto-approve"),
        env={**people.ENV, "PEOPLE_CARDS_CLEANUP_LOG": str(log)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert people.aliases(moto_server) == dict.fromkeys(people.REGIONS, ("2", {}))
    assert people.versions(moto_server) == {r: ["1", "2"] for r in people.REGIONS}
    assert people.records(moto_server, zone) == {
        **{r: f"people-cards-api.{r}.example.com" for r in people.REGIONS},
        "default": "people-cards-api.us-east-1.example.com",
    }
    assert people.flags(moto_server) == {
        "dual-write": ON,
        "read-v2": ON,
        "new-cards-ui": {"allowlist": ["user1", "user2"], "enabled": True, "percentage": 50},
    }
    assert log.read_text(encoding="utf-8") == "dropped cards_v1\n"
    # Regions went in waves: the primary was promoted before a replica started.
    out = done.stdout
    assert out.index("us-east-1/canary/stage-2/shift") < out.index("eu-west-1/deploy/update-code")
    assert out.index("eu-west-1/canary/stage-2/shift") < out.index(
        "ap-southeast-1/deploy/update-code"
    )


def test_a_breach_in_ap_southeast_1_rolls_back_only_its_wave(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    zone = people.build(moto_server)
    people.healthy(moto_server, ap_southeast_1=50.0)  # half the new version's calls fail there
    done = run_cli(
        *people.apply_argv(moto_server, tmp_path / "state", zone, "--auto-approve"), env=people.ENV
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert "ap-southeast-1/canary/stage-1/analysis: rollback trigger tripped" in done.stdout
    assert "earlier waves kept" in done.stdout
    # rollback.scope: wave -- the regions that passed their gates keep the release.
    assert people.aliases(moto_server) == {
        "us-east-1": ("2", {}),
        "eu-west-1": ("2", {}),
        "ap-southeast-1": ("1", {}),
    }
    # Nothing after the rollout ran: no routing records, no migration, no flags.
    assert people.records(moto_server, zone) == {}
    assert people.flags(moto_server) == {}


def test_with_scope_all_a_breach_in_ap_southeast_1_rolls_back_every_region(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    plan = tmp_path / "plans" / "people-cards.yaml"
    plan.parent.mkdir()
    source = Path(people.PLAN).read_text(encoding="utf-8")
    plan.write_text(source.replace("scope: wave ", "scope: all  "), encoding="utf-8")
    zone = people.build(moto_server)
    people.healthy(moto_server, ap_southeast_1=50.0)
    argv = list(people.apply_argv(moto_server, tmp_path / "state", zone, "--auto-approve"))
    argv[1] = str(plan)
    done = run_cli(*argv, env=people.ENV)
    assert done.returncode == 3, done.stdout + done.stderr
    assert people.aliases(moto_server) == dict.fromkeys(people.REGIONS, ("1", {}))
