"""plans/fraud-or-not.yaml as a real ``deployctl apply`` against a moto server:
the four-stage Lambda canary promotes on healthy metrics, rolls the alias
back when metrics breach in stage 2, and moves nothing when the smoke
invoke fails.  Every outcome is read back from AWS."""

from __future__ import annotations

from pathlib import Path

from deployctl.testing.aws import around_now
from deployctl.testing.cli import Running, run_cli
from deployctl.testing.moto import MotoServer
from deployctl.testing.worlds import fraud

OK = {"statusCode": 200}


def test_healthy_metrics_promote_version_2_to_100_percent(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    fraud.build(moto_server)
    moto_server.lambda_answers(OK)
    fraud.metrics(moto_server, around_now(), errors=0.0, duration=120.0)
    done = run_cli(*fraud.apply_argv(moto_server, tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert fraud.alias(moto_server) == ("2", {})
    assert fraud.published(moto_server) == ["1", "2"]


def test_metrics_breaching_in_stage_2_roll_the_alias_back_to_version_1(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    fraud.build(moto_server)
    moto_server.lambda_answers(OK)
    fraud.metrics(moto_server, around_now(), errors=0.0, duration=120.0)
    run = Running(*fraud.apply_argv(moto_server, tmp_path, stage2="3s"))
    run.wait_for("done   us-east-1/canary/stage-2/shift")
    assert fraud.alias(moto_server) == ("1", {"2": 0.25})
    # Every invoke of the new version fails, slowly, from now on.
    fraud.metrics(moto_server, around_now(0, 30), errors=100.0, duration=5000.0)
    assert run.finish() == 3, run.output
    assert "rollback trigger tripped" in run.output
    assert fraud.alias(moto_server) == ("1", {})


def test_a_failing_smoke_invoke_moves_no_traffic(moto_server: MotoServer, tmp_path: Path) -> None:
    fraud.build(moto_server)
    moto_server.lambda_answers({"statusCode": 500})
    fraud.metrics(moto_server, around_now(), errors=0.0, duration=120.0)
    done = run_cli(*fraud.apply_argv(moto_server, tmp_path))
    # A failure before traffic moves is still a failed, rolled-back run.
    assert done.returncode == 3, done.stdout + done.stderr
    assert "statusCode=500" in done.stdout
    assert "done   us-east-1/canary" not in done.stdout
    assert fraud.alias(moto_server) == ("1", {})
