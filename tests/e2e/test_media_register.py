"""plans/media-register.yaml as a real ``deployctl apply`` against a moto
server: deploy the green stack, smoke-test green on a local web server,
switch the listener, bake.  Every outcome is read back from AWS."""

from __future__ import annotations

from pathlib import Path

from deployctl.testing.aws import around_now
from deployctl.testing.cli import Running, run_cli
from deployctl.testing.http import http_side
from deployctl.testing.moto import MotoServer
from deployctl.testing.worlds import media

BLUE_LIVE = {"blue": 100, "green": 0}
GREEN_STACK = "media-register-prod-green"


def test_healthy_bake_leaves_the_listener_all_on_green(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    arns = media.build(moto_server)
    media.metrics(moto_server, arns, around_now(), errors=0.0, seconds=0.05)
    with http_side() as green:
        done = run_cli(*media.apply_argv(moto_server, tmp_path, arns, green.base))
    assert done.returncode == 0, done.stdout + done.stderr
    assert media.weights(moto_server, arns) == {"blue": 0, "green": 100}
    assert media.stacks(moto_server) == [GREEN_STACK]
    # The smoke tests went to the idle side, before the switch.
    assert sorted(green.seen) == ["GET /green/health", "POST /green/v1/media?dry_run=true"]


def test_metrics_breaching_during_the_bake_switch_back_to_blue(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    arns = media.build(moto_server)
    # Half the requests to green fail, each taking 2 s: green's metrics are
    # read first by the bake (nothing before the switch reads them), so
    # writing them up front is a breach during the bake without racing the
    # 3 s bake from this process, however loaded the machine is.
    media.metrics(moto_server, arns, around_now(), errors=50.0, seconds=2.0)
    with http_side() as green:
        run = Running(*media.apply_argv(moto_server, tmp_path, arns, green.base, bake="3s"))
        code = run.finish()
    assert code == 3, run.output
    switched = run.output.index("done   us-east-1/blue-green/switch")
    assert run.output.index("rollback trigger tripped") > switched
    assert "undone us-east-1/blue-green/switch" in run.output
    assert media.weights(moto_server, arns) == BLUE_LIVE
    assert media.stacks(moto_server) == []  # the stack this run created is gone again


def test_a_failing_smoke_test_moves_no_traffic(moto_server: MotoServer, tmp_path: Path) -> None:
    arns = media.build(moto_server)
    media.metrics(moto_server, arns, around_now(), errors=0.0, seconds=0.05)
    with http_side(status=500) as green:
        done = run_cli(*media.apply_argv(moto_server, tmp_path, arns, green.base))
    assert done.returncode == 3, done.stdout + done.stderr
    assert "status 500" in done.stdout
    assert "us-east-1/blue-green/switch" not in done.stdout
    assert media.weights(moto_server, arns) == BLUE_LIVE
    assert media.stacks(moto_server) == []


def test_a_green_whose_only_target_is_stopped_gets_no_traffic(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    arns = media.build(moto_server)
    media.metrics(moto_server, arns, around_now(), errors=0.0, seconds=0.05)
    elb = moto_server.client("elbv2", "us-east-1")
    (green,) = elb.describe_target_health(TargetGroupArn=arns["green_target_group"])[
        "TargetHealthDescriptions"
    ]
    moto_server.client("ec2", "us-east-1").stop_instances(InstanceIds=[green["Target"]["Id"]])
    with http_side() as side:
        done = run_cli(*media.apply_argv(moto_server, tmp_path, arns, side.base))
    assert done.returncode == 3, done.stdout + done.stderr
    assert "green side: target group media-register-green has 0 healthy target(s)" in done.stdout
    assert f"{green['Target']['Id']}:80 unused (Target.InvalidState" in done.stdout
    assert media.weights(moto_server, arns) == BLUE_LIVE
    assert media.stacks(moto_server) == []
