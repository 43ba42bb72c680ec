"""``deployctl apply PLAN --sandbox``: the example plans on the embedded AWS.

The clock runs a million times faster than real time (an hour of bakes is a
few milliseconds of real sleep), so these tests never wait on a plan.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from deployctl.actions.sandbox.faults import SandboxMetrics, healthy, parse_fault
from deployctl.actions.sandbox.ids import IdMap
from deployctl.cli import main
from deployctl.core.params import GateAnalysisParams
from deployctl.core.plan import Step
from deployctl.errors import UserError

ROOT = Path(__file__).parents[1]
FAST = ["--sandbox", "--sandbox-speed", "1000000"]
STAGES = [f"us-east-1/canary/stage-{n}/shift" for n in (1, 2, 3, 4)]


def sandbox(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, plan: str, *extra: str
) -> tuple[int, str, str]:
    code = main(["apply", f"plans/{plan}.yaml", *FAST, "--state-dir", str(tmp_path), *extra])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # plans name their templates relative to the checkout


# --- the example plans -----------------------------------------------------------


def test_fraud_or_not_runs_the_four_stage_canary_and_promotes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = sandbox(capsys, tmp_path, "fraud-or-not")
    assert code == 0, out
    for stage in STAGES:
        assert f"done   {stage}" in out
    assert "stage-4/shift [traffic 100%]" in out
    assert "succeeded" in out
    assert "lambda api-handler alias live -> version 2" in out
    assert "nothing leaves this machine" in out
    # The sandbox keeps its journal apart from real runs.
    assert (tmp_path / "sandbox").is_dir()


def test_an_error_rate_fault_at_stage_2_rolls_the_alias_back(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = sandbox(
        capsys, tmp_path, "fraud-or-not", "--sandbox-fault", "ErrorRate=0.2@stage:2", "-v"
    )
    assert code == 3, out
    assert "stage-1/analysis #1: pass" in out  # -v: every check has a line
    assert "stage-2/analysis #1: fail (ErrorRate=0.2 > 0.05; tripped ErrorRate>5%)" in out
    assert "undone us-east-1/canary/stage-2/shift" in out
    assert "undone us-east-1/canary/stage-1/shift" in out
    assert "stage-3/shift" not in out
    assert "lambda api-handler alias live -> version 1" in out


def test_a_failing_smoke_test_stops_the_run_before_traffic_moves(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = sandbox(capsys, tmp_path, "fraud-or-not", "--sandbox-fault", "fail@smoke")
    assert code == 3, out
    assert "sandbox fault fail@smoke: simulated failure" in out
    assert "stage-1/shift" not in out
    assert "alias live -> version 1" in out


def test_a_second_sandbox_run_starts_afresh(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert sandbox(capsys, tmp_path, "fraud-or-not", "--sandbox-fault", "fail@stage:1")[0] == 3
    code, out, _ = sandbox(capsys, tmp_path, "fraud-or-not")
    assert code == 0, out
    assert "new_version=2 stable_version=1" in out  # fresh AWS: version 1 is live again


def test_media_register_deploys_the_idle_stack_smoke_tests_it_and_switches(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = sandbox(capsys, tmp_path, "media-register", "-v")
    assert code == 0, out
    assert "done   us-east-1/deploy/stack" in out
    assert "simulated by the sandbox; nothing sent" in out
    # Output shows the plan's listener, not moto's.
    assert "listener f2f7dc8efc522ab2" in out
    assert "weights: media-register-blue 0, media-register-green 100" in out


def test_media_register_on_ecs_task_sets_promotes_the_new_task_set(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = sandbox(capsys, tmp_path, "media-register-ecs")
    assert code == 0, out
    assert "seeded 1 ALB listener, 2 target groups, 1 ECS cluster, 1 ECS service" in out
    for step in ("deploy/task-set", "canary/stage-2/drain", "canary/stage-2/primary"):
        assert f"done   us-east-1/{step}" in out
    assert "done   us-east-1/cleanup/old-task-set" in out
    assert "weights: media-register-blue 0, media-register-green 100" in out
    assert "ECS service media-register: primary task set media-register:2" in out


def test_an_error_rate_fault_after_the_primary_switch_puts_the_old_task_set_back(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = sandbox(
        capsys, tmp_path, "media-register-ecs", "--sandbox-fault", "ErrorRate=0.2@monitor"
    )
    assert code == 3, out
    undone = [line.split()[2] for line in out.splitlines() if " undone " in line]
    assert undone == [
        "us-east-1/canary/stage-2/primary:",
        "us-east-1/canary/stage-2/shift:",
        "us-east-1/canary/stage-1/shift:",
        "us-east-1/deploy/task-set:",
    ]
    assert "cleanup/old-task-set" not in out  # the one-way door was never reached
    assert "weights: media-register-blue 100, media-register-green 0" in out
    assert "ECS service media-register: primary task set media-register:1" in out


def test_media_register_on_two_ecs_services_moves_traffic_to_green(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = sandbox(capsys, tmp_path, "media-register-ecs-services")
    assert code == 0, out
    assert "done   us-east-1/linear/stage-2/shift [traffic 100%]" in out
    assert "weights: media-register-blue 0, media-register-green 100" in out
    assert "ECS service media-register-green: media-register:2, 2 task(s)" in out


def test_a_latency_fault_puts_the_green_service_back_as_it_was(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = sandbox(
        capsys, tmp_path, "media-register-ecs-services", "--sandbox-fault", "Latency=2500@stage:1"
    )
    assert code == 3, out
    assert "rollback trigger tripped: Latency>1000ms" in out
    assert "weights: media-register-blue 100, media-register-green 0" in out
    assert "ECS service media-register-blue: media-register:1, 2 task(s)" in out
    assert "ECS service media-register-green: media-register:1, 0 task(s)" in out


def test_people_cards_rolls_out_three_regions_migrates_and_sets_flags(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = sandbox(capsys, tmp_path, "people-cards")
    assert code == 0, out
    for region in ("us-east-1", "eu-west-1", "ap-southeast-1"):
        assert f"{region} lambda people-cards-api alias live -> version 2" in out
    assert "done   us-east-1/migration/snapshot" in out
    assert "not run (simulated by the sandbox): python scripts/validate_people_cards.py" in out
    assert "flag /people-cards/prod/flags/new-cards-ui: enabled=True percentage=50" in out


def test_a_latency_fault_in_one_region_rolls_back_only_that_wave(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = sandbox(
        capsys, tmp_path, "people-cards", "--sandbox-fault", "Latency=1500ms@region:eu-west-1"
    )
    assert code == 3, out
    assert "eu-west-1/canary/stage-1/analysis #1: fail" in out  # failed checks always show
    assert "us-east-1 lambda people-cards-api alias live -> version 2" in out  # wave 1 kept
    assert "eu-west-1 lambda people-cards-api alias live -> version 1" in out
    assert "ap-southeast-1/deploy" not in out


def test_a_breach_while_the_flags_are_watched_puts_every_flag_back(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = sandbox(
        capsys, tmp_path, "fraud-or-not-flags", "--sandbox-fault", "ErrorRate=0.2@phase:monitor"
    )
    assert code == 3, out
    assert "us-east-1/flags/monitor" in out
    assert "undone us-east-1/flags/ml-scoring-v2/stage-3/set" in out
    assert "undone us-east-1/flags/new-feature/set" in out


def test_the_sandbox_runs_as_a_subprocess(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "deployctl",
            "apply",
            "plans/fraud-or-not.yaml",
            *FAST,
            "--state-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for stage in STAGES:
        assert f"done   {stage}" in proc.stdout
    assert "alias live -> version 2" in proc.stdout


# --- user errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        ("ErrorRate=lots", "expected METRIC=VALUE[@WHERE] or fail@WHERE"),
        ("ErrorRate", "ErrorRate needs a value"),
        ("Throughput=3", "the plan defines no metric Throughput (it has: ErrorRate, Latency)"),
        ("ErrorRate=0.2@stage:9", "stage:9 matches no gate of plans/fraud-or-not.yaml"),
        ("fail", "say which step fails"),
        ("ErrorRate=0.2@", "expected METRIC=VALUE"),
    ],
)
def test_a_bad_fault_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fault: str, says: str
) -> None:
    code, out, err = sandbox(capsys, tmp_path, "fraud-or-not", "--sandbox-fault", fault)
    assert code == 1
    assert says in err
    assert len(err.strip().splitlines()) == 1
    assert "starting run" not in out


def test_sandbox_options_need_sandbox(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["apply", "plans/fraud-or-not.yaml", "--sandbox-fault", "ErrorRate=1"])
    err = capsys.readouterr().err
    assert code == 1
    assert "--sandbox-fault only make sense with --sandbox" in err


def test_without_moto_sandbox_says_what_to_install(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "moto", None)  # import moto -> ImportError
    code, _, err = sandbox(capsys, tmp_path, "fraud-or-not")
    assert code == 1
    assert err.strip().splitlines() == [
        "deployctl: error: --sandbox needs moto, which is not installed: "
        "python -m pip install 'deployctl[sandbox]'"
    ]


# --- the pieces --------------------------------------------------------------------


def step(step_id: str, *tags: str, **params: object) -> Step:
    return Step(id=step_id, kind="gate.analysis", description="", params=params, tags=tags)


def test_fault_values_are_normalised_like_triggers() -> None:
    assert parse_fault("ErrorRate=20%@stage:2").value == pytest.approx(0.2)
    assert parse_fault("Latency=1.5s").value == 1500.0
    assert parse_fault("Latency=900ms@region:eu-west-1").where == ("region:eu-west-1",)
    assert parse_fault("ErrorRate=nodata@stage:1").value is None
    with pytest.raises(UserError):
        parse_fault("fail=1@stage:1")


def test_selectors_match_tags_and_parts_of_step_ids() -> None:
    gate = step("us-east-1/canary/stage-2/analysis", "region:us-east-1", "stage:2")
    for where in (
        "stage:2",
        "region:us-east-1",
        "canary/stage-2",
        "stage-2/analysis",
        "us-east-1/canary/stage-2/analysis",
        "stage:2,region:us-east-1",
    ):
        assert parse_fault(f"ErrorRate=1@{where}").matches(gate), where
    for where in ("stage:1", "stage-2/shift", "canary/analysis", "stage:2,region:eu-west-1"):
        assert not parse_fault(f"ErrorRate=1@{where}").matches(gate), where


def test_healthy_values_stay_well_inside_every_bound() -> None:
    params = {
        "duration": 60.0,
        "metric": "ErrorRate",
        "threshold": 0.01,
        "triggers": [
            {"metric": "ErrorRate", "op": ">", "value": 0.05},
            {"metric": "Latency", "op": ">", "value": 1000.0},
            {"metric": "Availability", "op": "<", "value": 0.5},
        ],
    }
    gate = GateAnalysisParams.from_params(params)
    for check in range(20):
        assert 0 < healthy("ErrorRate", gate, check) <= 0.01 * 0.3
        assert 0 < healthy("Latency", gate, check) <= 300
        assert healthy("Availability", gate, check) > 0.5
    assert healthy("Latency", None) == 0.0  # another kind's gate: no bounds known
    metrics = SandboxMetrics([parse_fault("Latency=1500ms@stage:2")])
    values = metrics.values(step("a/stage-2/analysis", "stage:2"), ["Latency", "ErrorRate"], gate)
    assert values["Latency"] == 1500.0
    assert values["ErrorRate"] is not None and values["ErrorRate"] < 0.01


def test_id_map_swaps_ids_inside_nested_values_both_ways() -> None:
    ids = IdMap()
    ids.add("arn:plan:listener/app/x/1/2", "arn:moto:listener/app/x/9/9")
    ids.add("Z0PLAN", "ZMOTO")
    sent = ids.inward({"listener_arn": "arn:plan:listener/app/x/1/2", "zones": ["Z0PLAN"]})
    assert sent == {"listener_arn": "arn:moto:listener/app/x/9/9", "zones": ["ZMOTO"]}
    assert ids.outward(sent) == {"listener_arn": "arn:plan:listener/app/x/1/2", "zones": ["Z0PLAN"]}
    assert ids.outward("zone ZMOTO changed") == "zone Z0PLAN changed"


def test_ssm_references_read_a_seeded_stand_in(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "apiVersion: deployctl/v1\n"
        "kind: Deployment\n"
        "metadata: {project: vault, environment: prod}\n"
        "target:\n  lambda: {function: api, alias: live}\n"
        "strategy: {type: all-at-once}\n"
        "tests:\n  smoke:\n    - name: auth\n"
        "      http:\n        url: https://api.example.com/health\n"
        '        headers: {Authorization: "Bearer ${ssm:/vault/api-token}"}\n',
        encoding="utf-8",
    )
    code = main(["apply", str(plan), *FAST, "--state-dir", str(tmp_path / "state")])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    # Its state dir, and the one above it, are created private like any other.
    for folder in (tmp_path / "state", tmp_path / "state" / "sandbox"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert stat.S_IMODE((tmp_path / "state" / "sandbox" / "journal.sqlite").stat().st_mode) == 0o600
    assert "1 SSM SecureString" in out
    # The stand-in value was read into the smoke request, and shown nowhere.
    assert "sandbox-secret" not in out + err


@pytest.mark.slow  # the sandbox's own speed: about 6 s of real bakes
def test_the_fraud_or_not_canary_fits_in_forty_log_lines(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Without a terminal (capsys is none), the log is plain: every step, each
    # traffic stage, the gate checks condensed, and the summary.
    # At the sandbox's own speed (x1200): a faster clock only packs more
    # virtual minutes (and heartbeats) between two real events.
    code, out, _ = sandbox(capsys, tmp_path, "fraud-or-not", "--sandbox-speed", "1200")
    assert code == 0, out
    lines = out.splitlines()
    assert len(lines) <= 40, out
    assert not any(" check  " in line for line in lines)  # healthy checks: no line each
    for stage in STAGES:
        assert sum(f"done   {stage}" in line for line in lines) == 1
    assert any("summary: run" in line and "final traffic us-east-1 100%" in line for line in lines)
    stages = [line.split()[2] for line in lines if line[9:].startswith(" stage  ")]
    assert stages == [f"us-east-1/stage-{n}:" for n in (1, 2, 3, 4)] + ["us-east-1/monitor:"]
