"""The live view on a terminal (rich): a panel per region or wave with the
step in hand, a traffic bar, the bake counting down, and the last gate
values against their limits.  Finished steps collapse to one line; stage
changes, failures and rollback progress scroll above the panels; the
summary is printed when the run ends.

The panels are redrawn by rich's own refresh thread (``auto_refresh``), so
the countdown ticks between events.  Colours follow rich's console, which
honours ``NO_COLOR`` and ``FORCE_COLOR``; every line is cut to the terminal
width.  Imported only when a terminal is attached (rich is not loaded for
``--version`` or in CI logs).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from deployctl.core.ports import Outcome, Reporter, StepResult
from deployctl.core.records import Record, RunInfo
from deployctl.core.status import StepStatus, Verdict
from deployctl.execute import timeline
from deployctl.output import summary
from deployctl.secrets import Redactor

if TYPE_CHECKING:
    from deployctl.core.plan import Plan, Step
    from deployctl.core.ports import CheckResult


@dataclass
class _Wave:
    """What one region's panel shows."""

    name: str
    total: int = 0
    done: list[str] = field(default_factory=list)
    running: dict[str, Step] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    stage: str = ""
    traffic: int | None = None
    bake_end: float | None = None
    bake_seconds: float = 0.0
    last: CheckResult | None = None
    last_step: Step | None = None
    checks: int = 0


class LiveView(Reporter):
    def __init__(
        self,
        console: Console,
        *,
        now: Callable[[], float] = time.time,
        refresh_per_second: float = 4.0,
        auto_refresh: bool = True,
        live: bool = True,
    ) -> None:
        """``live=False`` draws nothing by itself (tests render :meth:`renderable`)."""
        self.console = console
        self.now = now
        self.redact = Redactor()
        self._lock = threading.RLock()
        self._plan: Plan | None = None
        self._run: RunInfo | None = None
        self._records: list[Record] = []
        self._waves: dict[str, _Wave] = {}
        self._started_at = now()
        self._announced: set[str] = set()
        self._drawing = live
        self._live = Live(
            get_renderable=self.renderable,
            console=console,
            auto_refresh=auto_refresh,
            refresh_per_second=refresh_per_second,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )

    # -- scrolling lines ---------------------------------------------------------

    def _print(self, text: str, style: str = "") -> None:
        line = Text(self.redact(text), style=style)
        self.console.print(line, no_wrap=True, overflow="ellipsis", crop=True)

    def _wave(self, step: Step) -> _Wave:
        name = timeline.wave_of(step)
        return self._waves.setdefault(name, _Wave(name))

    # -- reporter ---------------------------------------------------------------------

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
            self._started_at = self.now()
            for step in plan.steps:
                wave = self._wave(step)
                wave.total += 1
        verb = "resuming" if resumed else "starting"
        self._print(
            f"{verb} run {run.run_id}: {plan.project}/{plan.environment}, "
            f"{len(plan.steps)} steps from {plan.source}",
            "bold",
        )
        if self._drawing:
            self._live.start()

    def step_started(self, step: Step, attempt: int) -> None:
        stage = timeline.stage_of(step)
        with self._lock:
            wave = self._wave(step)
            wave.running[step.id] = step
            wave.stage = stage
            if step.wait > 0:
                wave.bake_end = self.now() + step.wait
                wave.bake_seconds = step.wait
            first = stage not in self._announced
            self._announced.add(stage)
        if first and step.traffic is not None:
            self._print(f"stage {stage}: {step.traffic}% traffic", "cyan")

    def step_finished(self, step: Step, result: StepResult) -> None:
        with self._lock:
            wave = self._wave(step)
            wave.running.pop(step.id, None)
            if step.wait > 0 and not wave.running:
                wave.bake_end = None
            if result.status == StepStatus.DONE:
                wave.done.append(step.id)
                if step.traffic is not None:
                    wave.traffic = step.traffic
            elif result.status == StepStatus.FAILED:
                wave.failed.append(step.id)
        if result.status == StepStatus.FAILED:
            self._print(f"FAILED {step.id}: {result.error}", "bold red")

    def gate_checked(self, step: Step, number: int, result: CheckResult, remaining: float) -> None:
        with self._lock:
            wave = self._wave(step)
            wave.last, wave.last_step, wave.checks = result, step, number
            wave.bake_end = self.now() + remaining
            wave.bake_seconds = max(wave.bake_seconds, step.wait)
        if result.status != Verdict.PASS:
            self._print(f"check {step.id} #{number}: {result.status} ({result.detail})", "yellow")

    def message(self, text: str) -> None:
        self._print(text, "magenta")

    def run_finished(self, outcome: Outcome) -> None:
        if self._drawing:
            self._live.stop()
        style = "bold green" if outcome.exit_code == 0 else "bold yellow"
        if outcome.exit_code not in (0, 6, 130):
            style = "bold red"
        self._print(outcome.message, style)
        for item in outcome.left:
            self._print(f"  {item}")
        tl = self.timeline(outcome)
        if tl is not None:
            self.console.print(summary_table(tl, self.redact), crop=True)

    def timeline(self, outcome: Outcome | None = None) -> timeline.Timeline | None:
        with self._lock:
            if self._plan is None or self._run is None:
                return None
            run = self._run if outcome is None else replace(self._run, status=outcome.status)
            return timeline.build(self._plan, list(self._records), run)

    # -- the panels ----------------------------------------------------------------------

    def renderable(self) -> RenderableType:
        """What the screen shows now (rich's refresh thread calls this)."""
        with self._lock:
            now = self.now()
            done = sum(len(w.done) for w in self._waves.values())
            total = sum(w.total for w in self._waves.values())
            run = self._run
            title = (
                f"{self._plan.project}/{self._plan.environment} run {run.run_id}"
                if self._plan is not None and run is not None
                else "deployctl"
            )
            head = Text(no_wrap=True, overflow="ellipsis")
            head.append(self.redact(title), style="bold")
            head.append(f"  {done}/{total} steps  {summary.clock(now - self._started_at)} elapsed")
            panels: list[RenderableType] = [head]
            panels += [self._panel(w, now) for w in self._waves.values()]
            return Group(*panels)

    def _panel(self, wave: _Wave, now: float) -> Panel:
        grid = Table.grid(padding=(0, 1), expand=True)
        grid.add_column(no_wrap=True, overflow="ellipsis", min_width=8)
        grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        grid.add_column(no_wrap=True, overflow="ellipsis", justify="right")
        if wave.done:
            names = ", ".join(sid.rsplit("/", 1)[-1] for sid in wave.done[-4:])
            grid.add_row(
                Text("done", style="green"),
                Text(
                    self.redact(
                        f"{len(wave.done)}/{wave.total}: ... {names}"
                        if len(wave.done) > 4
                        else f"{len(wave.done)}/{wave.total}: {names}"
                    )
                ),
                "",
            )
        for sid, step in wave.running.items():
            grid.add_row(
                Text("now", style="bold yellow"),
                Text(self.redact(f"{sid}: {step.description}")),
                "",
            )
        for sid in wave.failed:
            grid.add_row(Text("failed", style="bold red"), Text(self.redact(sid)), "")
        if not wave.done and not wave.running and not wave.failed:
            grid.add_row(Text("waiting", style="dim"), Text(f"{wave.total} steps"), "")
        traffic = wave.traffic or 0
        grid.add_row(
            "traffic",
            ProgressBar(total=100, completed=traffic, complete_style="cyan", finished_style="cyan"),
            f"{traffic:>3}%",
        )
        if wave.bake_end is not None and wave.bake_seconds > 0:
            left = max(0.0, wave.bake_end - now)
            grid.add_row(
                "bake",
                ProgressBar(
                    total=wave.bake_seconds,
                    completed=wave.bake_seconds - left,
                    complete_style="blue",
                ),
                f"{summary.clock(left)} left",
            )
        if wave.last is not None and wave.last_step is not None:
            self._gate_rows(grid, wave)
        border = "red" if wave.failed else "green" if wave.done and not wave.running else "yellow"
        if not wave.running and not wave.done:
            border = "dim"
        return Panel(
            grid, title=self.redact(wave.name), subtitle=wave.stage or None, border_style=border
        )

    def _gate_rows(self, grid: Table, wave: _Wave) -> None:
        assert wave.last is not None and wave.last_step is not None
        limits = timeline.limits_for(wave.last_step)
        for metric, value in sorted(wave.last.values.items()):
            limit = limits.get(metric)
            if value is None:
                grid.add_row(metric, Text("no data", style="yellow"), "")
                continue
            share = limit.share(value) if limit is not None else None
            style = "green"
            if (share is not None and share >= 1.0) or (
                limit is not None and _breached(limit, value)
            ):
                style = "red"
            elif share is not None and share >= 0.8:
                style = "yellow"
            bar: Any = (
                ProgressBar(
                    total=1.0, completed=min(share, 1.0), complete_style=style, finished_style="red"
                )
                if share is not None
                else Text(f"{value:.4g}", style=style)
            )
            bound = f"{value:.4g} {limit.text()}" if limit is not None else f"{value:.4g}"
            grid.add_row(Text(metric, style=style), bar, bound)
        grid.add_row("checks", Text(f"#{wave.checks} {wave.last.status}", style="dim"), "")


def _breached(limit: timeline.Limit, value: float) -> bool:
    return {
        ">": value > limit.value,
        ">=": value >= limit.value,
        "<": value < limit.value,
        "<=": value <= limit.value,
    }[limit.op]


def summary_table(tl: timeline.Timeline, redact: Redactor) -> RenderableType:
    """The end-of-run summary as a rich table (same content as the log's)."""
    table = Table(
        title=redact(f"summary: {summary.headline(tl)}"),
        title_justify="left",
        expand=False,
        show_edge=False,
    )
    rows = summary.rows(tl)
    names = ("stage", "traffic", "time", "checks", "worst vs limit")
    for n, name in enumerate(names):
        # the first four keep their width; the worst values wrap in what is left
        width = max([len(name), *(len(r[n]) for r in rows)]) if n < 4 else None
        table.add_column(
            name,
            justify="right" if n in (1, 2) else "left",
            no_wrap=n < 4,
            overflow="ellipsis" if n < 4 else "fold",
            min_width=width,
        )
    for row in rows:
        table.add_row(*(redact(c) for c in row))
    parts: list[RenderableType] = [table]
    if tl.undone:
        parts.append(Text(redact(f"undone: {', '.join(tl.undone)}"), overflow="ellipsis"))
    if tl.rollback_reason:
        parts.append(Text(redact(f"rollback because: {tl.rollback_reason}"), overflow="ellipsis"))
    return Group(*parts)
