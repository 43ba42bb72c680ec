"""``deployctl plan`` against in-process moto: every change shown, exit 2;
the same plan after it ran: everything unchanged, exit 0."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from deployctl.actions import registry as backends
from deployctl.actions.aws import Clients
from deployctl.cli import main
from deployctl.execute.runner import Executor, Options
from deployctl.testing.aws import Calls, aws_backend, code_zip, every_minute
from deployctl.testing.clock import VirtualClock
from deployctl.testing.worlds import fraud

FN = fraud.FN
ARGV = [fraud.PLAN, *fraud.var_args(fraud.VIRTUAL_VARS)]


def plan_cli(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["plan", *ARGV, "--detailed-exitcode", *extra])
    out, err = capsys.readouterr()
    assert code in (0, 2), err
    return code, out


def apply(clients: Clients, tmp_path: Path) -> None:
    clock = VirtualClock(start=fraud.VIRTUAL_START)
    fraud.metrics(clients, every_minute(clock), errors=0.0)
    ex = Executor(str(tmp_path / "state"), aws_backend(clients, clock))
    try:
        assert ex.apply(fraud.compiled(), Options(auto_approve=True)).exit_code == 0
    finally:
        ex.close()


def test_plan_shows_each_change_then_nothing_once_applied(
    fraud_lambda: Any, clients: Clients, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = plan_cli(capsys)
    assert code == 2
    assert "~ lambda-alias us-east-1 api-handler:live" in out
    assert (
        "v1 100%  ->  v1 90% + new 10% -> v1 75% + new 25% -> v1 50% + new 50% -> new 100%" in out
    )
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
    fraud_lambda: Any,
    clients: Clients,
    calls: Calls,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backend = aws_backend(clients, VirtualClock())
    monkeypatch.setattr(backends, "load_backend", lambda **_: backend)
    calls.seen.clear()
    plan_cli(capsys, "--format", "json")
    # the alias, the function's versions, the artifact: three resources, three reads
    assert sum(calls.seen.values()) == 3, calls.seen


def test_a_saved_plan_refuses_when_the_alias_changed_since_review(
    fraud_lambda: Any,
    clients: Clients,
    calls: Calls,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backend = aws_backend(clients, VirtualClock())
    monkeypatch.setattr(backends, "load_backend", lambda **_: backend)
    saved = tmp_path / "reviewed.json"
    code, _ = plan_cli(capsys, "--out", str(saved))
    assert code == 2
    data = json.loads(saved.read_text())
    assert data["format_version"] == 1
    assert "lambda-alias us-east-1 api-handler:live" in data["resources"]

    fraud_lambda.update_function_code(FunctionName=FN, ZipFile=code_zip("hotfix"))
    fraud_lambda.publish_version(FunctionName=FN)  # someone ships a hotfix by hand
    fraud_lambda.update_alias(FunctionName=FN, Name="live", FunctionVersion="2")
    calls.seen.clear()
    code = main(["apply", str(saved), "--state-dir", str(tmp_path / "state"), "--auto-approve"])
    _, err = capsys.readouterr()
    assert code == 5
    assert "lambda-alias us-east-1 api-handler:live: v1 100% -> v2 100%" in err
    writes = [op for op in calls.seen if not op.startswith(("Get", "List", "Head", "Describe"))]
    assert writes == []
    assert fraud_lambda.get_alias(FunctionName=FN, Name="live")["FunctionVersion"] == "2"


def test_a_saved_plan_applies_when_nothing_changed(
    fraud_lambda: Any,
    clients: Clients,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = VirtualClock(start=fraud.VIRTUAL_START)
    fraud.metrics(clients, every_minute(clock), errors=0.0)
    backend = aws_backend(clients, clock)
    monkeypatch.setattr(backends, "load_backend", lambda **_: backend)
    saved = tmp_path / "reviewed.json"
    plan_cli(capsys, "--out", str(saved))
    code = main(["apply", str(saved), "--state-dir", str(tmp_path / "state"), "--auto-approve"])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert fraud_lambda.get_alias(FunctionName=FN, Name="live")["FunctionVersion"] == "2"
