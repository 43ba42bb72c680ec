"""plans/media-register-pipeline.yaml on a moto server: dev, staging and prod
one after another, each deploying the idle side of its own listener, smoke
testing it and switching; the run pauses (exit 6) at each approval, at the
prod gate too, and `approve` + `resume` finish it."""

from __future__ import annotations

import re
from pathlib import Path

from deployctl.testing.aws import MOTO_VARS, around_now
from deployctl.testing.cli import run_cli
from deployctl.testing.http import http_side
from deployctl.testing.moto import MotoServer
from deployctl.testing.worlds import ROOT, media

PIPELINE = str(ROOT / "plans" / "media-register-pipeline.yaml")
ENVS = ("dev", "staging", "prod")
BLUE = {"blue": 100, "green": 0}
GREEN = {"blue": 0, "green": 100}


def test_the_pipeline_pauses_at_the_prod_approval_and_finishes_once_approved(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    envs = {env: media.build(moto_server, name=f"media-register-{env}") for env in ENVS}
    for arns in envs.values():
        media.metrics(moto_server, arns, around_now(-60, 240), errors=0.0, seconds=0.05)
    state = tmp_path / "state"
    common = ("--state-dir", str(state), "--endpoint-url", moto_server.url, "--region", "us-east-1")
    with http_side() as side:
        values = {
            "smoke_base": f"{side.base}/${{idle_color}}",
            "bake": "100ms",
            "health_timeout": "0s",
            **{f"{env}_listener": arns["listener"] for env, arns in envs.items()},
            **{f"{env}_blue": arns["blue_target_group"] for env, arns in envs.items()},
            **{f"{env}_green": arns["green_target_group"] for env, arns in envs.items()},
        }
        given = [arg for k, v in values.items() for arg in ("--var", f"{k}={v}")]
        first = run_cli("apply", PIPELINE, *common, *MOTO_VARS, *given)
        assert first.returncode == 6, first.stdout + first.stderr
        assert "dev/us-east-1/approve/before-switch-traffic" in first.stdout
        rid = re.search(r"run (\S+) is waiting", first.stdout).group(1)  # type: ignore[union-attr]
        # A person approves dev's and staging's switches.
        for step in ("dev", "staging"):
            ok = run_cli("approve", rid, f"{step}/us-east-1/approve/before-switch-traffic", *common)
            assert ok.returncode == 0, ok.stderr
        second = run_cli("resume", rid, *common)
        assert second.returncode == 6, second.stdout + second.stderr
        assert "prod/approve: deploy to prod" in second.stdout
        # dev and staging each switched their own listener; prod has not started.
        assert media.stacks(moto_server) == [
            "media-register-dev-green",
            "media-register-staging-green",
        ]
        assert {env: media.weights(moto_server, arns) for env, arns in envs.items()} == {
            "dev": GREEN,
            "staging": GREEN,
            "prod": BLUE,
        }
        # The pipeline's own smoke tests ran after each environment's deploy.
        assert "done   dev/tests/us-east-1/health" in second.stdout
        assert "done   staging/tests/us-east-1/health" in second.stdout
        approved = run_cli("approve", rid, *common)
        assert approved.returncode == 0 and "prod/approve" in approved.stdout, approved.stdout
        ok = run_cli("approve", rid, "prod/us-east-1/approve/before-switch-traffic", *common)
        assert ok.returncode == 0, ok.stderr
        third = run_cli("resume", rid, *common)
    assert third.returncode == 0, third.stdout + third.stderr
    assert "succeeded" in third.stdout
    assert media.stacks(moto_server) == [
        "media-register-dev-green",
        "media-register-prod-green",
        "media-register-staging-green",
    ]
    assert {env: media.weights(moto_server, arns) for env, arns in envs.items()} == dict.fromkeys(
        ENVS, GREEN
    )
