"""The CI log: one timestamped (UTC) line per step and per stage, gate checks
condensed, and the run's summary at the end.

What a line is printed for:

- a stage that moves traffic starts (``stage us-east-1/stage-2: 25% traffic``);
- a step ends (``done``, ``FAILED``), with how long it took.  Its start line
  is held back ``defer`` seconds (real time): a step that ends by then gets
  one line for both, a longer one shows its start when it is due;
- a gate check fails, has no data, or sees a value cross 80% of its limit;
  and every ``heartbeat`` seconds of a gate, one line with the checks so
  far and each metric's min/max (``-v`` prints every check);
- rollback progress and the outcome, then the summary.

``style="github"`` wraps each stage in ``::group::``, marks failures with
``::error::`` and writes the summary as markdown to ``$GITHUB_STEP_SUMMARY``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, TextIO

from deployctl.core.ports import Outcome, Reporter, StepResult
from deployctl.core.records import Record, RunInfo
from deployctl.core.status import StepStatus, Verdict
from deployctl.execute import timeline
from deployctl.output import summary
from deployctl.secrets import Redactor

if TYPE_CHECKING:
    from deployctl.core.plan import Plan, Step
    from deployctl.core.ports import CheckResult

PLAIN, GITHUB = "plain", "github"
NEAR = 0.8  # a value past this share of its (upper) limit is worth a line
HEARTBEAT = 15 * 60.0
DEFER = 10.0
_OUTPUTS_WIDTH = 100


def github_escape(text: str) -> str:
    """A workflow command's message: %, CR and LF must be escaped."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def github_property(text: str) -> str:
    """A workflow command's property value (``title=``): also : and ,."""
    return github_escape(text).replace(":", "%3A").replace(",", "%2C")


@dataclass
class _Gate:
    started: float
    last_line: float
    checks: int = 0
    passed: int = 0
    lows: dict[str, float] = field(default_factory=dict)
    highs: dict[str, float] = field(default_factory=dict)
    near: set[str] = field(default_factory=set)


class LogReporter(Reporter):
    """Lines for logs and CI; see the module docstring for what gets one."""

    def __init__(
        self,
        stream: TextIO,
        *,
        now: Callable[[], float] = time.time,
        style: str = PLAIN,
        verbosity: int = 0,
        heartbeat: float = HEARTBEAT,
        defer: float = DEFER,
        step_summary: str | None = None,
    ) -> None:
        self.stream = stream
        self.now = now
        self.style = style
        self.verbosity = verbosity
        self.heartbeat = heartbeat
        self.defer = 0.0 if verbosity > 0 else defer
        self.step_summary = step_summary
        self.redact = Redactor()
        self._lock = threading.RLock()
        self._plan: Plan | None = None
        self._run: RunInfo | None = None
        self._records: list[Record] = []
        self._stages: dict[str, int | None] = {}  # stage -> traffic
        self._announced: set[str] = set()
        self._group: str | None = None
        self._pending: dict[str, tuple[str, threading.Timer | None]] = {}
        self._started: dict[str, float] = {}
        self._gates: dict[str, _Gate] = {}

    # -- output ------------------------------------------------------------------

    def _stamp(self) -> str:
        return time.strftime("%H:%M:%SZ", time.gmtime(self.now()))

    def _write(self, text: str) -> None:
        self.stream.write(self.redact(text) + "\n")
        self.stream.flush()

    def _emit(self, text: str, stage: str | None = None, *, stamp: bool = True) -> None:
        """One line (under the lock), in ``stage``'s group on GitHub."""
        with self._lock:
            self._flush_pending()
            self._line(text, stage, stamp=stamp)

    def _line(self, text: str, stage: str | None, *, stamp: bool = True) -> None:
        if self.style == GITHUB and stage != self._group:
            if self._group is not None:
                self._write("::endgroup::")
            self._group = stage
            if stage is not None:
                self._write(f"::group::{github_escape(stage)}")
        self._write(f"{self._stamp()} {text}" if stamp else text)

    def _flush_pending(self, keep: str | None = None) -> None:
        for sid in [s for s in self._pending if s != keep]:
            text, timer = self._pending.pop(sid)
            if timer is not None:
                timer.cancel()
            step = self._plan.by_id.get(sid) if self._plan else None
            self._line(text, timeline.stage_of(step) if step else None, stamp=False)

    def _due(self, step_id: str) -> None:
        with self._lock:
            if step_id in self._pending:
                text, _ = self._pending.pop(step_id)
                step = self._plan.by_id.get(step_id) if self._plan else None
                self._line(text, timeline.stage_of(step) if step else None, stamp=False)

    # -- reporter ------------------------------------------------------------------

    def secret(self, value: str) -> None:
        self.redact.add(value)

    def record(self, record: Record) -> None:
        with self._lock:
            self._records.append(record)

    def history(self, records: Sequence[Record]) -> None:
        with self._lock:
            self._records[:0] = list(records)

    def run_started(self, run: RunInfo, plan: Plan, resumed: bool) -> None:
        self.redact.add(*plan.secret_values)
        with self._lock:
            self._plan, self._run = plan, run
            for step in plan.steps:
                name = timeline.stage_of(step)
                old = self._stages.get(name)
                if step.traffic is not None:
                    self._stages[name] = max(old or 0, step.traffic)
                else:
                    self._stages.setdefault(name, old)
        verb = "resuming" if resumed else "starting"
        when = time.strftime("%Y-%m-%d", time.gmtime(self.now()))
        self._emit(
            f"{verb} run {run.run_id} ({when}): {plan.project}/{plan.environment}, "
            f"{len(plan.steps)} steps from {plan.source}"
        )

    def step_started(self, step: Step, attempt: int) -> None:
        stage = timeline.stage_of(step)
        again = f" (attempt {attempt})" if attempt > 1 else ""
        text = f"start  {step.id}{again}: {step.description}"
        with self._lock:
            self._started[step.id] = self.now()
            self._gates[step.id] = _Gate(self.now(), self.now())  # heartbeats count from here
            traffic = self._stages.get(stage)
            if stage not in self._announced and (traffic is not None or self.style == GITHUB):
                self._announced.add(stage)
                if self.style == PLAIN and self.verbosity >= 0:
                    self._flush_pending()
                    self._line(f"stage  {stage}: {traffic}% traffic", stage)
            if self.verbosity < 0:
                return
            if self.defer <= 0:
                self._flush_pending()
                self._line(text, stage)
                return
            timer = threading.Timer(self.defer, self._due, args=(step.id,))
            timer.daemon = True
            # stamped now: a start shown late still says when it happened
            self._pending[step.id] = (f"{self._stamp()} {text}", timer)
            timer.start()

    def step_finished(self, step: Step, result: StepResult) -> None:
        stage = timeline.stage_of(step)
        with self._lock:
            began = self._started.pop(step.id, None)
            took = f" in {summary.clock(self.now() - began)}" if began is not None else ""
            merged = self._pending.pop(step.id, None)
            if merged is not None and merged[1] is not None:
                merged[1].cancel()
            self._flush_pending()
            gate = self._gates.pop(step.id, None)
            if result.status == StepStatus.FAILED:
                self._line(f"FAILED {step.id}{took}: {result.error}", stage)
                if self.style == GITHUB:
                    self._write(
                        f"::error title={github_property(f'deployctl: {step.id} failed')}::"
                        + github_escape(self.redact(str(result.error)))
                    )
                return
            if self.verbosity < 0:
                return
            if result.status != StepStatus.DONE:
                self._line(f"{result.status:<6} {step.id}{took}", stage)
                return
            traffic = f" [traffic {step.traffic}%]" if step.traffic is not None else ""
            detail = (
                _gate_text(step, gate) if gate is not None and gate.checks else _outputs(result)
            )
            self._line(f"done   {step.id}{traffic}{took}{detail}", stage)

    def gate_checked(self, step: Step, number: int, result: CheckResult, remaining: float) -> None:
        stage = timeline.stage_of(step)
        limits = timeline.limits_for(step)
        with self._lock:
            now = self.now()
            gate = self._gates.setdefault(step.id, _Gate(now, now))
            gate.checks += 1
            gate.passed += result.status == Verdict.PASS
            near: list[str] = []
            for metric, value in result.values.items():
                if value is None:
                    continue
                gate.lows[metric] = min(gate.lows.get(metric, value), value)
                gate.highs[metric] = max(gate.highs.get(metric, value), value)
                limit = limits.get(metric)
                share = limit.share(value) if limit is not None else None
                if limit is None or share is None:
                    continue
                if share >= NEAR and metric not in gate.near:
                    gate.near.add(metric)
                    near.append(
                        f"{metric} {value:.4g} is {share:.0%} of its limit ({limit.text()})"
                    )
                elif share < NEAR:
                    gate.near.discard(metric)
            left = f"{summary.clock(remaining)} left"
            what = ""
            if result.status in (Verdict.FAIL, Verdict.NO_DATA) or self.verbosity > 0:
                verdict = "no data" if result.status == Verdict.NO_DATA else result.status
                what = f"check  {step.id} #{number}: {verdict} ({result.detail}), {left}"
            elif near:
                what = f"check  {step.id} #{number}: {'; '.join(near)}, {left}"
            elif remaining > 0 and now - gate.last_line >= self.heartbeat:
                what = f"gate   {step.id}: {_so_far(gate, limits)}, {left}"
            if what and (self.verbosity >= 0 or result.status != Verdict.PASS):
                gate.last_line = now
                self._flush_pending()
                self._line(what, stage)

    def message(self, text: str) -> None:
        self._emit(text)

    def run_finished(self, outcome: Outcome) -> None:
        with self._lock:
            self._flush_pending()
            self._line(outcome.message, None)
            for item in outcome.left:
                self._line(f"  {item}", None, stamp=False)
            if self.style == GITHUB and outcome.exit_code not in (0, 6):
                self._write(
                    f"::error title=deployctl run::{github_escape(self.redact(outcome.message))}"
                )
            tl = self.timeline(outcome)
            if tl is None:
                return
            for n, line in enumerate(summary.render_text(tl)):
                self._line(line, None, stamp=n == 0)
            if self.style == GITHUB and self.step_summary:
                with open(self.step_summary, "a", encoding="utf-8") as fh:
                    fh.write(self.redact(summary.render_markdown(tl)) + "\n")

    def timeline(self, outcome: Outcome | None = None) -> timeline.Timeline | None:
        """The run so far, from the records this reporter saw."""
        with self._lock:
            if self._plan is None or self._run is None:
                return None
            run = self._run
            if outcome is not None:
                run = replace(run, status=outcome.status)
            return timeline.build(self._plan, list(self._records), run)


def _outputs(result: StepResult) -> str:
    if not result.outputs:
        return ""
    text = " ".join(f"{k}={v}" for k, v in sorted(result.outputs.items()))
    if len(text) > _OUTPUTS_WIDTH:
        text = text[: _OUTPUTS_WIDTH - 3] + "..."
    return " " + text


def _so_far(gate: _Gate, limits: dict[str, timeline.Limit]) -> str:
    parts = [f"{gate.passed}/{gate.checks} checks passed"]
    for metric in sorted(gate.highs):
        limit = limits.get(metric)
        bound = f" (limit {limit.text()})" if limit is not None else ""
        parts.append(f"{metric} {gate.lows[metric]:.4g}..{gate.highs[metric]:.4g}{bound}")
    return "; ".join(parts)


def _gate_text(step: Step, gate: _Gate) -> str:
    return ": " + _so_far(gate, timeline.limits_for(step))
