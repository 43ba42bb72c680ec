"""The fraud-or-not canary end to end in one process: the real executor and
the built-in actions against in-process moto, on a virtual clock.  (The
subprocess and moto-server tests are the CLI's; this one checks that the
actions fit the planner's params and the executor's ``${...}`` outputs.)"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from deployctl.actions.aws import Clients
from deployctl.core.plan import Step
from deployctl.core.ports import Reporter
from deployctl.execute.runner import Executor, Options
from deployctl.testing.aws import REGION, Calls, aws_backend, every_minute
from deployctl.testing.clock import VirtualClock
from deployctl.testing.worlds import fraud


def metrics(clients: Clients, clock: VirtualClock, errors: float) -> None:
    """One datapoint a minute for the next two virtual hours, for version 2."""
    fraud.metrics(clients, every_minute(clock), errors=errors)


class GateChecks(Reporter):
    def __init__(self) -> None:
        self.regions: Counter[str | None] = Counter()

    def gate_checked(self, step: Step, number: int, result: Any, remaining: float) -> None:
        if step.kind == "gate.analysis":
            self.regions[step.region] += 1


def run(
    clients: Clients, clock: VirtualClock, tmp_path: Path, reporter: Reporter | None = None
) -> Any:
    executor = Executor(str(tmp_path / "state"), aws_backend(clients, clock), reporter)
    try:
        return executor.apply(fraud.compiled(), Options(auto_approve=True))
    finally:
        executor.close()


def test_healthy_canary_promotes_the_new_version(
    fraud_lambda: Any, clients: Clients, tmp_path: Path
) -> None:
    clock = VirtualClock(start=fraud.VIRTUAL_START)
    metrics(clients, clock, errors=0.0)
    outcome = run(clients, clock, tmp_path)
    assert outcome.exit_code == 0, outcome.message
    assert fraud.alias(clients) == ("2", {})


def test_breaching_canary_rolls_the_alias_back_to_the_stable_version(
    fraud_lambda: Any, clients: Clients, tmp_path: Path
) -> None:
    clock = VirtualClock(start=fraud.VIRTUAL_START)
    metrics(clients, clock, errors=20.0)  # 20% errors: over the 5% trigger
    outcome = run(clients, clock, tmp_path)
    assert outcome.exit_code == 3, outcome.message
    assert fraud.alias(clients) == ("1", {})


def test_each_gate_check_makes_exactly_one_get_metric_data_call_per_region(
    fraud_lambda: Any, clients: Clients, calls: Calls, tmp_path: Path
) -> None:
    clock = VirtualClock(start=fraud.VIRTUAL_START)
    metrics(clients, clock, errors=0.0)
    checks = GateChecks()
    before = calls["GetMetricData"]
    outcome = run(clients, clock, tmp_path, checks)
    assert outcome.exit_code == 0, outcome.message
    # Three 2-minute stages and the 10-minute monitor, checked every minute;
    # ErrorRate's two series and Latency's one share each call.
    assert checks.regions == {REGION: 2 + 2 + 2 + 10}
    assert calls["GetMetricData"] - before == sum(checks.regions.values())
