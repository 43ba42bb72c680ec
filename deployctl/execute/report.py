"""Progress views: plain lines for logs and CI, a live status line on a terminal.

Both redact the plan's secret values and those read during the run (the
``${ssm:...}`` parameters): "over-redaction is reversible, a leak is not".
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, TextIO

from deployctl.execute.api import Outcome, Reporter, StepResult
from deployctl.state.api import RunInfo

if TYPE_CHECKING:
    from deployctl.actions.api import CheckResult
    from deployctl.plan.api import Plan, Step


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return (
        f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
        if hours
        else f"{rest // 60:02d}:{rest % 60:02d}"
    )


class PlainReporter(Reporter):
    """One line per event; safe to grep and to read in a CI log."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.secrets: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def redact(self, text: str) -> str:
        # Longest first, so a secret that contains another is hidden whole.
        for secret in sorted(self.secrets, key=len, reverse=True):
            if secret:
                text = text.replace(secret, "***")
        return text

    def secret(self, value: str) -> None:
        with self._lock:
            self.secrets = self.secrets | {value}

    def line(self, text: str) -> None:
        with self._lock:
            self.stream.write(self.redact(text) + "\n")
            self.stream.flush()

    def run_started(self, run: RunInfo, plan: Plan, resumed: bool) -> None:
        self.secrets = self.secrets | plan.secret_values  # and any read at run time
        verb = "resuming" if resumed else "starting"
        self.line(
            f"{verb} run {run.run_id}: {plan.project}/{plan.environment}, {len(plan.steps)} steps"
        )

    def step_started(self, step: Step, attempt: int) -> None:
        again = f" (attempt {attempt})" if attempt > 1 else ""
        self.line(f"  start  {step.id}{again}: {step.description}")

    def step_finished(self, step: Step, result: StepResult) -> None:
        if result.status == "failed":
            self.line(f"  FAILED {step.id}: {result.error}")
        elif result.status == "done":
            outputs = " ".join(f"{k}={v}" for k, v in sorted(result.outputs.items()))
            traffic = f" [traffic {step.traffic}%]" if step.traffic is not None else ""
            self.line(f"  done   {step.id}{traffic}{' ' + outputs if outputs else ''}")
        else:
            self.line(f"  {result.status:<6} {step.id}")

    def gate_checked(self, step: Step, number: int, result: CheckResult, remaining: float) -> None:
        self.line(
            f"  gate   {step.id} check {number}: {result.status} ({result.detail}), "
            f"{_clock(remaining)} left"
        )

    def message(self, text: str) -> None:
        self.line(text)

    def run_finished(self, outcome: Outcome) -> None:
        self.line(outcome.message)
        for item in outcome.left:
            self.line(f"  {item}")


class LiveReporter(PlainReporter):
    """Events scroll; under them one redrawn line shows the current stage,
    traffic on the new version, time left in the bake and the last gate."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self.total = 0
        self.done = 0
        self.stage = ""
        self.traffic: int | None = None
        self.left = ""
        self.gate = ""

    def line(self, text: str) -> None:
        with self._lock:
            self.stream.write("\r\033[K" + self.redact(text) + "\n" + self._status())
            self.stream.flush()

    def _status(self) -> str:
        parts = [f"[{self.done}/{self.total}]", self.stage or "-"]
        if self.traffic is not None:
            parts.append(f"traffic {self.traffic}%")
        if self.left:
            parts.append(f"bake {self.left} left")
        if self.gate:
            parts.append(f"last gate: {self.gate}")
        return self.redact(" | ".join(parts))

    def run_started(self, run: RunInfo, plan: Plan, resumed: bool) -> None:
        self.total = len(plan.steps)
        super().run_started(run, plan, resumed)

    def step_started(self, step: Step, attempt: int) -> None:
        self.stage = step.id
        super().step_started(step, attempt)

    def step_finished(self, step: Step, result: StepResult) -> None:
        if result.status == "done":
            self.done += 1
            if step.traffic is not None:
                self.traffic = step.traffic
        super().step_finished(step, result)

    def gate_checked(self, step: Step, number: int, result: CheckResult, remaining: float) -> None:
        self.left = _clock(remaining)
        self.gate = f"{result.status} ({result.detail})"
        super().gate_checked(step, number, result, remaining)

    def run_finished(self, outcome: Outcome) -> None:
        super().run_finished(outcome)
        with self._lock:
            self.stream.write("\r\033[K")
            self.stream.flush()
