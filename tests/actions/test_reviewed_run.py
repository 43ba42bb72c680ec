"""A run from a saved plan checks each step's resources right before the step:
a hand change in the middle of a run stops it (exit 5) before the next step on
that resource is sent; the run's own changes never look stale; ``resume``
checks the same way, from the journal."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from deployctl.actions import registry as backends
from deployctl.actions.aws import Clients
from deployctl.cli import main
from deployctl.core.plan import Step
from deployctl.core.ports import Reporter, StepResult
from deployctl.testing.aws import Calls, aws_backend, every_minute
from deployctl.testing.clock import VirtualClock
from deployctl.testing.worlds import fraud

FN = fraud.FN
STAGE_1 = "us-east-1/canary/stage-1/shift"
STAGE_2 = "us-east-1/canary/stage-2/shift"
ALIAS = "lambda-alias us-east-1 api-handler:live"


class HandChange(Reporter):
    """Someone moves the alias in the console right after ``after`` finishes."""

    def __init__(self, lam: Any, after: str) -> None:
        self.lam, self.after, self.fired = lam, after, False

    def step_finished(self, step: Step, result: StepResult) -> None:
        if step.id == self.after and not self.fired:
            self.fired = True
            self.lam.update_alias(
                FunctionName=FN,
                Name="live",
                FunctionVersion="1",
                RoutingConfig={"AdditionalVersionWeights": {}},
            )


@pytest.fixture
def cli_backend(clients: Clients, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Points the CLI at moto; call it again to add reporters (test hooks)."""
    clock = VirtualClock(start=fraud.VIRTUAL_START)
    fraud.metrics(clients, every_minute(clock), errors=0.0)

    def use(*reporters: Reporter) -> None:
        backend = aws_backend(clients, clock, *reporters)
        monkeypatch.setattr(backends, "load_backend", lambda **_: backend)

    use()
    return use


def plan_cli(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    argv = [fraud.PLAN, *fraud.var_args(fraud.VIRTUAL_VARS)]
    code = main(["plan", *argv, "--detailed-exitcode", *extra])
    out, err = capsys.readouterr()
    assert code in (0, 2), err
    return code, out


def journal_records(state: Path, kind: str) -> list[dict[str, Any]]:
    conn = sqlite3.connect(state / "journal.sqlite")
    try:
        rows = conn.execute("SELECT data FROM records WHERE type = ? ORDER BY seq", (kind,))
        return [json.loads(data) for (data,) in rows]
    finally:
        conn.close()


def test_a_hand_change_mid_run_stops_the_next_step_on_that_resource(
    fraud_lambda: Any,
    clients: Clients,
    calls: Calls,
    cli_backend: Callable[..., None],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    saved, state = tmp_path / "reviewed.json", tmp_path / "state"
    plan_cli(capsys, "--out", str(saved))
    hand = HandChange(fraud_lambda, after=STAGE_1)
    writes = WritesAfter(calls, hand)
    cli_backend(hand, writes)

    code = main(["apply", str(saved), "--state-dir", str(state), "--auto-approve"])
    out, err = capsys.readouterr()

    assert code == 5, out + err
    assert f"stale at step {STAGE_2}" in out
    assert f"{ALIAS}: v1 90% + v2 10% -> v1 100%" in out
    assert "deployctl resume" in out
    # Nothing was sent after the hand change: no UpdateAlias at stage 2, no rollback.
    assert writes.sent == []
    assert fraud_lambda.get_alias(FunctionName=FN, Name="live")["FunctionVersion"] == "1"
    assert (
        not fraud_lambda.get_alias(FunctionName=FN, Name="live")
        .get("RoutingConfig", {})
        .get("AdditionalVersionWeights")
    )
    assert [r["changed"] for r in journal_records(state, "stale")] == [
        {ALIAS: {"was": "v1 90% + v2 10%", "now": "v1 100%"}}
    ]
    runs = main(["runs", "--state-dir", str(state)])
    assert runs == 0 and " stale " in capsys.readouterr().out

    assert main(["status", "--state-dir", str(state)]) == 0
    shown = capsys.readouterr().out
    assert f"pending     {STAGE_2} stale, not sent: {ALIAS}: v1 90% + v2 10% -> v1 100%" in shown

    # Resume checks again, from the journal: still changed, still stopped.
    run_id = json.loads(_status(state, capsys))["run"]["run_id"]
    assert main(["resume", run_id, "--state-dir", str(state), "--auto-approve"]) == 5
    capsys.readouterr()

    # Put it back as the run left it: the run goes on and finishes.
    fraud_lambda.update_alias(
        FunctionName=FN,
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}},
    )
    code = main(["resume", run_id, "--state-dir", str(state), "--auto-approve"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert fraud_lambda.get_alias(FunctionName=FN, Name="live")["FunctionVersion"] == "2"


def test_a_fresh_review_after_a_stop_accepts_the_world_as_it_is(
    fraud_lambda: Any,
    clients: Clients,
    calls: Calls,
    cli_backend: Callable[..., None],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, again, state = tmp_path / "first.json", tmp_path / "again.json", tmp_path / "state"
    plan_cli(capsys, "--out", str(first))
    cli_backend(HandChange(fraud_lambda, after=STAGE_1))
    assert main(["apply", str(first), "--state-dir", str(state), "--auto-approve"]) == 5
    capsys.readouterr()

    # Re-applying the file the run started from changes nothing: still stale.
    assert main(["apply", str(first), "--state-dir", str(state), "--auto-approve"]) == 5
    capsys.readouterr()

    # A new review reads the alias as it is now, and the run goes on from there.
    plan_cli(capsys, "--out", str(again))
    code = main(["apply", str(again), "--state-dir", str(state), "--auto-approve"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert out.split(" ", 1)[1].startswith("resuming run ")  # after the UTC time
    assert fraud_lambda.get_alias(FunctionName=FN, Name="live")["FunctionVersion"] == "2"
    assert len(journal_records(state, "reviewed")) == 2


def _status(state: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["status", "--state-dir", str(state), "--format", "json"]) == 0
    return capsys.readouterr().out


class WritesAfter(Reporter):
    """Collects the AWS write calls sent after the hand change."""

    def __init__(self, calls: Calls, hand: HandChange) -> None:
        self.sent: list[str] = []
        self.calls, self.hand = calls, hand
        self.baseline: dict[str, int] | None = None

    def step_finished(self, step: Step, result: StepResult) -> None:
        if self.hand.fired and self.baseline is None:
            self.baseline = dict(self.calls.seen)

    def run_finished(self, outcome: Any) -> None:
        if self.baseline is None:
            return
        for op, n in self.calls.seen.items():
            if n > self.baseline.get(op, 0) and not op.startswith(
                ("Get", "List", "Describe", "Head")
            ):
                self.sent.append(op)
