"""``apply --engine stepfunctions``: deployctl starts the run and exits; moto's
Step Functions runs it; ``status``, ``approve`` and ``apply --wait`` read it back."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

import boto3
import pytest

from deployctl.cli import main
from deployctl.commands import _stepfunctions
from deployctl.state import open_store
from deployctl.state.dynamotable import create_table
from deployctl.testing.aws import REGION
from deployctl.testing.stepfunctions import ROLE, until, wait_for_executions

CASES = Path(__file__).resolve().parents[1] / "cases"
CANARY = str(Path(__file__).with_name("canary.yaml"))
APPROVAL = str(Path(__file__).with_name("approval.yaml"))


def _apply(state: Path | str, plan: str, *extra: str) -> list[str]:
    return [
        "apply", plan, "--engine", "stepfunctions", "--role-arn", ROLE,
        "--state-dir", str(state), "--time-scale", "0", "--log-format", "plain", *extra,
    ]  # fmt: skip


def _alias() -> dict[str, Any]:
    return boto3.client("lambda", region_name=REGION).get_alias(FunctionName="api", Name="live")


def _parked_at_approval(state: Path | str, out: str) -> tuple[str, str]:
    """The run id that ``apply`` printed in ``out``, once its execution waits at
    the approval with the task token stored where approve finds it; and that token."""
    run_id = re.search(r"run (\S+) started", out)[1]  # type: ignore[index]
    ssm = boto3.client("ssm", region_name=REGION)
    name = f"/deployctl/demo/prod/{run_id}/approval/"
    until(lambda: ssm.get_parameters_by_path(Path=name, Recursive=True)["Parameters"])
    return run_id, ssm.get_parameters_by_path(Path=name, Recursive=True)["Parameters"][0]["Value"]


def test_apply_starts_the_execution_records_the_run_and_exits(
    api_function: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_apply(tmp_path, CANARY)) == 0
    out = capsys.readouterr().out
    run_id = re.search(r"run (\S+) started on AWS Step Functions", out)
    assert run_id, out
    assert (
        f"execution:{' ' * 1}arn:aws:states:{REGION}:123456789012:execution:deployctl-demo-prod:{run_id[1]}"
        in out
    )
    assert "console:   https://us-east-1.console.aws.amazon.com/states/" in out
    store = open_store(str(tmp_path))
    # the lock is the run's until someone sees the execution end
    assert [(i.lock_id, i.run_id) for i in store.locks()] == [("demo/prod", run_id[1])]
    wait_for_executions()  # deployctl is not running: AWS (moto) finishes the plan
    assert _alias()["FunctionVersion"] == "2"
    # a SQLite store is out of the machine's reach: the lock outlives the execution
    # until the first command that sees it ended (docs/engines.md)
    assert [i.run_id for i in store.locks()] == [run_id[1]]
    assert main(["status", run_id[1], "--state-dir", str(tmp_path)]) == 0
    assert "succeeded" in capsys.readouterr().out
    assert store.locks() == []
    assert main(["runs", "--state-dir", str(tmp_path)]) == 0
    assert f"{run_id[1]}  succeeded" in capsys.readouterr().out


def test_apply_wait_exits_3_when_an_alarm_rolls_back_inside_the_execution(
    api_function: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from moto.cloudwatch.models import CloudWatchBackend

    real_put = CloudWatchBackend.put_metric_alarm

    def put_then_trip(self: CloudWatchBackend, *args: Any, **kwargs: Any) -> Any:
        alarm = real_put(self, *args, **kwargs)
        name = kwargs.get("name") or args[0]
        if "stage-1/analysis-1" in name:
            self.set_alarm_state(name, "breached in the test", "{}", "ALARM")
        return alarm

    monkeypatch.setattr(CloudWatchBackend, "put_metric_alarm", put_then_trip)
    monkeypatch.setattr(_stepfunctions, "sleep", lambda seconds: wait_for_executions())
    assert main(_apply(tmp_path, CANARY, "--wait")) == 3
    out = capsys.readouterr().out
    assert "rolled_back" in out
    assert _alias()["FunctionVersion"] == "1"
    assert open_store(str(tmp_path)).locks() == []


def test_apply_wait_exits_3_when_a_watched_alarm_fires_and_0_when_it_is_ok(
    api_function: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """rollback.alarms on Step Functions: the team's alarm in ALARM rolls the run
    back inside the execution, as the local engine's gate does; OK lets it through."""
    plan = str(Path(__file__).with_name("alarms.yaml"))
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    cloudwatch.put_metric_alarm(
        AlarmName="team-prod-5xx", Namespace="Team", MetricName="5xx", Statistic="Sum",
        Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
    )  # fmt: skip
    cloudwatch.set_alarm_state(AlarmName="team-prod-5xx", StateValue="ALARM", StateReason="5xx")
    monkeypatch.setattr(_stepfunctions, "sleep", lambda seconds: wait_for_executions())
    assert main(_apply(tmp_path, plan, "--wait")) == 3
    assert "rolled_back" in capsys.readouterr().out
    assert _alias()["FunctionVersion"] == "1"
    cloudwatch.set_alarm_state(AlarmName="team-prod-5xx", StateValue="OK", StateReason="fixed")
    assert main(_apply(tmp_path, plan, "--wait")) == 0
    assert _alias()["FunctionVersion"] == "2"
    assert open_store(str(tmp_path)).locks() == []


def test_apply_refuses_without_a_role(
    api_function: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["apply", CANARY, "--engine", "stepfunctions", "--state-dir", str(tmp_path)]) == 1
    assert "needs --role-arn ARN" in capsys.readouterr().err


def test_approval_waits_for_the_token_and_approve_sends_it(
    api_function: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert main(_apply(tmp_path, APPROVAL)) == 0
    # the execution stops at the approval with its token stored where approve finds it
    run_id, _ = _parked_at_approval(tmp_path, capsys.readouterr().out)
    assert _alias()["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.1}
    assert main(["status", run_id, "--state-dir", str(tmp_path)]) == 0
    assert "waiting" in capsys.readouterr().out
    # the run holds the plan's lock while AWS runs it: a second apply is turned away
    assert main(_apply(tmp_path, APPROVAL)) == 4
    assert "demo/prod" in capsys.readouterr().err
    assert main(["approve", run_id, "--state-dir", str(tmp_path)]) == 0
    assert "approved us-east-1/approve/before-promote" in capsys.readouterr().out
    wait_for_executions()
    assert _alias()["FunctionVersion"] == "2"


def test_rollback_of_a_succeeded_run_undoes_it_inside_aws(
    api_function: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_stepfunctions, "sleep", lambda seconds: wait_for_executions())
    assert main(_apply(tmp_path, CANARY, "--wait")) == 0
    run_id = re.search(r"run (\S+) started", capsys.readouterr().out)[1]  # type: ignore[index]
    assert _alias()["FunctionVersion"] == "2"
    assert open_store(str(tmp_path)).locks() == []
    # an execution that goes straight to the rollback path with what the run did
    assert main(["rollback", run_id, "--state-dir", str(tmp_path)]) == 3
    out = capsys.readouterr().out
    assert f"execution:{' '}arn:aws:states:{REGION}" in out and f"{run_id}-rollback-1" in out
    assert _alias()["FunctionVersion"] == "1"
    assert not _alias().get("RoutingConfig", {}).get("AdditionalVersionWeights")
    assert main(["runs", "--state-dir", str(tmp_path)]) == 0
    assert f"{run_id}  rolled_back" in capsys.readouterr().out
    assert open_store(str(tmp_path)).locks() == []


def test_resume_redrives_a_failed_execution_stubber(tmp_path: Path) -> None:
    """moto has no RedriveExecution: the real request shape, on a Stubber."""
    from botocore.stub import Stubber

    from deployctl.execute import api
    from deployctl.plan.api import Plan
    from deployctl.stepfunctions import engine

    store = open_store(str(tmp_path))
    journal = store.journal()
    plan = Plan(kind="Deployment", project="demo", environment="prod", source="p.yaml", steps=())
    run = journal.create_run(plan, "me", {"steps": []})
    arn = f"arn:aws:states:{REGION}:123456789012:execution:deployctl-demo-prod:{run.run_id}"
    journal.append(run.run_id, engine.ENGINE_RECORD, data={"execution_arn": arn})
    sfn = boto3.client("stepfunctions", region_name=REGION)
    with Stubber(sfn) as stub:
        stub.add_response(
            "describe_execution",
            {"executionArn": arn, "stateMachineArn": arn, "status": "FAILED",
             "startDate": "2026-01-01T00:00:00Z"},
            {"executionArn": arn},
        )  # fmt: skip
        stub.add_response(
            "redrive_execution", {"redriveDate": "2026-01-01T00:00:00Z"}, {"executionArn": arn}
        )
        assert engine.redrive(journal, run, lambda service: sfn) == arn
        stub.assert_no_pending_responses()
    assert journal.get_run(run.run_id).status == api.RUNNING
    assert [r.type for r in journal.records(run.run_id)][-1] == api.RESUMED
    journal.close()


def test_rollback_of_a_run_parked_at_an_approval_runs_the_undos_and_frees_the_lock(
    api_function: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The execution waits on a task token with 10% on version 2: rollback stops
    it, drops the dead token, and a rollback execution undoes the shift."""
    assert main(_apply(tmp_path, APPROVAL)) == 0
    run_id, token = _parked_at_approval(tmp_path, capsys.readouterr().out)
    assert _alias()["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.1}
    sfn = boto3.client("stepfunctions", region_name=REGION)

    def release_the_stopped_wait(seconds: float) -> None:
        # moto's StopExecution leaves the execution's thread waiting on the token
        # (AWS ends it): the token's answer lets that thread end, as a stopped one.
        with contextlib.suppress(sfn.exceptions.ClientError):
            sfn.send_task_failure(taskToken=token, error="stopped")
        wait_for_executions()

    monkeypatch.setattr(_stepfunctions, "sleep", release_the_stopped_wait)
    assert main(["rollback", run_id, "--state-dir", str(tmp_path)]) == 3
    assert f"{run_id}-rollback-1" in capsys.readouterr().out
    assert _alias()["FunctionVersion"] == "1"
    assert not _alias().get("RoutingConfig", {}).get("AdditionalVersionWeights")
    ran = sfn.list_executions(stateMachineArn=_machine_arn(sfn))["executions"]
    assert {e["name"] for e in ran} == {run_id, f"{run_id}-rollback-1"}
    ssm = boto3.client("ssm", region_name=REGION)
    name = f"/deployctl/demo/prod/{run_id}/approval/"
    assert ssm.get_parameters_by_path(Path=name, Recursive=True)["Parameters"] == []
    assert open_store(str(tmp_path)).locks() == []
    assert main(["approve", run_id, "--state-dir", str(tmp_path)]) == 1
    assert "waits on no approval" in capsys.readouterr().err


def _machine_arn(sfn: Any) -> str:
    machines = sfn.list_state_machines()["stateMachines"]
    return str(next(m["stateMachineArn"] for m in machines if m["name"] == "deployctl-demo-prod"))


def test_the_machine_frees_a_dynamodb_lock_when_the_execution_ends(
    api_function: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """With the state in DynamoDB the machine's last states free the lock:
    no deployctl command runs between the approval and the check."""
    create_table(boto3.client("dynamodb", region_name=REGION), "deployctl-state")
    state = "dynamodb://deployctl-state"
    assert main(_apply(state, APPROVAL)) == 0
    run_id, token = _parked_at_approval(state, capsys.readouterr().out)
    store = open_store(state)
    assert [i.run_id for i in store.locks()] == [run_id]
    sfn = boto3.client("stepfunctions", region_name=REGION)
    sfn.send_task_success(taskToken=token, output="{}")
    wait_for_executions()
    assert _alias()["FunctionVersion"] == "2"
    assert store.locks() == []
    journal = store.journal()
    assert journal.get_run(run_id).status == "running"  # no command has looked yet
    journal.close()
    history = sfn.get_execution_history(
        executionArn=f"arn:aws:states:{REGION}:123456789012:execution:deployctl-demo-prod:{run_id}",
        maxResults=1000,
    )["events"]
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e
    ]
    assert entered[-2:] == ["Done free lock", "Succeeded"]
