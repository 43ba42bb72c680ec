"""``deployctl plan`` against in-process moto: every change shown, exit 2;
the same plan after it ran: everything unchanged, exit 0."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from aws_helpers import REGION, Calls, lambda_role, zip_bytes
from test_aws_canary import FN, VARS, metrics

from deployctl.actions.aws import Clients
from deployctl.actions.builtin import register_aws
from deployctl.actions.cloudwatch import CloudWatchMetrics
from deployctl.actions.registry import Backend, default_registry
from deployctl.cli import main
from deployctl.execute.clock import VirtualClock
from deployctl.execute.runner import Executor, Options
from deployctl.manifest.load import LoadOptions, load_text
from deployctl.plan.compile import compile_plan

PLAN = Path(__file__).parents[2] / "plans" / "fraud-or-not.yaml"
ARGV = [str(PLAN), *(a for k, v in VARS.items() for a in ("--var", f"{k}={v}"))]


@pytest.fixture
def world(clients: Clients) -> Any:
    s3 = clients.client("s3", REGION)
    s3.create_bucket(Bucket="fraud-or-not-artifacts")
    # A SHA-256 checksum on the artifact lets plan compare it with the live code.
    s3.put_object(Bucket="fraud-or-not-artifacts", Key="api-handler/2024.01.20.zip",
                  Body=zip_bytes("v2"), ChecksumAlgorithm="SHA256")
    lam = clients.client("lambda", REGION)
    lam.create_function(FunctionName=FN, Runtime="python3.12", Role=lambda_role(clients.session),
                        Handler="handler.main", Code={"ZipFile": zip_bytes("v1")})
    lam.publish_version(FunctionName=FN)
    lam.create_alias(FunctionName=FN, Name="live", FunctionVersion="1")
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.moto_api._internal import moto_api_backend

    for _ in range(8):
        moto_api_backend.set_lambda_simple_result('{"statusCode": 200}', DEFAULT_ACCOUNT_ID, REGION)
    return lam


def plan_cli(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["plan", *ARGV, "--detailed-exitcode", *extra])
    out, err = capsys.readouterr()
    assert code in (0, 2), err
    return code, out


def apply(clients: Clients, tmp_path: Path) -> None:
    clock = VirtualClock(start=datetime.datetime(2024, 1, 20, tzinfo=datetime.UTC).timestamp())
    metrics(clients, clock, errors=0.0)
    plan = compile_plan(load_text(PLAN.read_text(), str(PLAN), LoadOptions(vars=VARS)), str(PLAN))
    registry = default_registry(plugins=False)
    register_aws(registry, clients)
    ex = Executor(str(tmp_path / "state"), Backend(registry, clock, CloudWatchMetrics(clients)))
    try:
        assert ex.apply(plan, Options(auto_approve=True)).exit_code == 0
    finally:
        ex.close()


def test_plan_shows_each_change_then_nothing_once_applied(
    world: Any, clients: Clients, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = plan_cli(capsys)
    assert code == 2
    assert "~ lambda-alias us-east-1 api-handler:live" in out
    assert "v1 100%  ->  v1 90% + new 10% -> v1 75% + new 25% -> v1 50% + new 50% -> new 100%" in out
    assert "~ lambda-function us-east-1 api-handler" in out
    assert "publish a new version" in out

    apply(clients, tmp_path)

    code, out = plan_cli(capsys, "--format", "json")
    data = json.loads(out)
    assert code == 0, out
    schema = Path(__file__).parents[2] / "schemas" / "plan-output-v1.schema.json"
    jsonschema.validate(data, json.loads(schema.read_text()))
    assert data["changes"] is False
    assert {r["key"]: r["status"] for r in data["resources"]} == {
        "lambda-alias us-east-1 api-handler:live": "unchanged",
        "lambda-function us-east-1 api-handler": "unchanged",
    }
    assert data["resources"][0]["before"] == "v2 100%"


def test_plan_reads_each_resource_once(
    world: Any, clients: Clients, calls: Calls, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = default_registry(plugins=False)
    register_aws(registry, clients)
    monkeypatch.setattr(
        "deployctl.actions.registry.load_backend",
        lambda **_: Backend(registry, VirtualClock()),
    )
    calls.seen.clear()
    plan_cli(capsys, "--format", "json")
    # the alias, the function's versions, the artifact: three resources, three reads
    assert sum(calls.seen.values()) == 3, calls.seen


def test_a_saved_plan_refuses_when_the_alias_changed_since_review(
    world: Any, clients: Clients, calls: Calls, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = default_registry(plugins=False)
    register_aws(registry, clients)
    backend = Backend(registry, VirtualClock())
    monkeypatch.setattr("deployctl.actions.registry.load_backend", lambda **_: backend)
    monkeypatch.setattr("deployctl.commands._execute.load_backend", lambda **_: backend)
    saved = tmp_path / "reviewed.json"
    code, _ = plan_cli(capsys, "--out", str(saved))
    assert code == 2
    data = json.loads(saved.read_text())
    assert data["format_version"] == 1
    assert "lambda-alias us-east-1 api-handler:live" in data["resources"]

    world.update_function_code(FunctionName=FN, ZipFile=zip_bytes("hotfix"))
    world.publish_version(FunctionName=FN)  # someone ships a hotfix by hand
    world.update_alias(FunctionName=FN, Name="live", FunctionVersion="2")
    calls.seen.clear()
    code = main(["apply", str(saved), "--state-dir", str(tmp_path / "state"), "--auto-approve"])
    _, err = capsys.readouterr()
    assert code == 5
    assert "lambda-alias us-east-1 api-handler:live: v1 100% -> v2 100%" in err
    writes = [op for op in calls.seen if not op.startswith(("Get", "List", "Head", "Describe"))]
    assert writes == []
    assert world.get_alias(FunctionName=FN, Name="live")["FunctionVersion"] == "2"


def test_a_saved_plan_applies_when_nothing_changed(
    world: Any, clients: Clients, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = VirtualClock(start=datetime.datetime(2024, 1, 20, tzinfo=datetime.UTC).timestamp())
    metrics(clients, clock, errors=0.0)
    registry = default_registry(plugins=False)
    register_aws(registry, clients)
    backend = Backend(registry, clock, CloudWatchMetrics(clients))
    monkeypatch.setattr("deployctl.actions.registry.load_backend", lambda **_: backend)
    monkeypatch.setattr("deployctl.commands._execute.load_backend", lambda **_: backend)
    saved = tmp_path / "reviewed.json"
    plan_cli(capsys, "--out", str(saved))
    code = main(["apply", str(saved), "--state-dir", str(tmp_path / "state"), "--auto-approve"])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert world.get_alias(FunctionName=FN, Name="live")["FunctionVersion"] == "2"
