"""The live view (rich), rendered with a recording console at 80 and 200 columns."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from deployctl.core.ports import CheckResult, Outcome, StepResult
from deployctl.core.records import Record, RunInfo
from deployctl.output.live import LiveView
from deployctl.testing.clock import VirtualClock
from deployctl.testing.plans import make_plan, step

GATE = {
    "duration": 1800.0,
    "interval": 60.0,
    "metric": "ErrorRate",
    "threshold": 0.05,
    "metrics": ["ErrorRate", "Latency"],
    "triggers": [{"metric": "Latency", "op": ">", "value": 1000.0}],
}


def two_regions():  # type: ignore[no-untyped-def]
    steps = []
    for region in ("us-east-1", "eu-west-1"):
        steps += [
            step(
                f"{region}/deploy/publish",
                region=region,
                tags=("phase:deploy",),
                description="publish a version of api-handler; note the version alias live serves",
            ),
            step(
                f"{region}/canary/stage-2/shift",
                deps=(f"{region}/deploy/publish",),
                traffic=25,
                region=region,
                tags=("stage:2",),
                description="alias live: 2 at 25%, 1 at 75%",
            ),
            step(
                f"{region}/canary/stage-2/analysis",
                "gate.analysis",
                deps=(f"{region}/canary/stage-2/shift",),
                traffic=25,
                wait=1800.0,
                region=region,
                tags=("stage:2",),
                params=GATE,
                description="analysis 30m, every 1m: ErrorRate <= 0.05; Latency>1000ms",
            ),
        ]
    return make_plan(*steps, project="fraud-or-not", environment="prod")


def drive(width: int, clock: VirtualClock) -> tuple[LiveView, Console]:
    console = Console(
        record=True, width=width, file=io.StringIO(), force_terminal=True, color_system="standard"
    )
    view = LiveView(console, now=clock.now, live=False)
    plan = two_regions()
    run = RunInfo(
        "20261128-101500-abc123",
        plan.project,
        plan.environment,
        plan.digest,
        plan.source,
        "running",
        clock.now(),
        clock.now(),
        "ci",
    )
    view.run_started(run, plan, False)
    for sid in ("us-east-1/deploy/publish", "us-east-1/canary/stage-2/shift"):
        view.step_started(plan.by_id[sid], 1)
        view.step_finished(plan.by_id[sid], StepResult(sid, "done"))
    gate = plan.by_id["us-east-1/canary/stage-2/analysis"]
    view.step_started(gate, 1)
    clock.advance(60)
    view.gate_checked(gate, 1, CheckResult("pass", {"ErrorRate": 0.042, "Latency": 230.0}), 1740.0)
    view.step_started(plan.by_id["eu-west-1/deploy/publish"], 1)
    return view, console


def screen(view: LiveView, console: Console) -> str:
    console.print(view.renderable())
    return console.export_text(clear=True)


@pytest.mark.parametrize("width", [80, 200])
def test_panels_per_region_fit_the_terminal_width(width: int) -> None:
    clock = VirtualClock()
    view, console = drive(width, clock)
    console.export_text(clear=True)  # the scrolled lines, not the panels
    text = screen(view, console)
    lines = text.splitlines()
    assert all(len(line) <= width for line in lines), max(len(line) for line in lines)
    # one panel per region, titled by it, with the stage under it
    assert sum("us-east-1" in line and "╭" in line for line in lines) == 1
    assert sum("eu-west-1" in line and "╭" in line for line in lines) == 1
    assert "us-east-1/stage-2" in text
    # finished steps collapse to one line; the step in hand is shown
    assert "done      2/3: publish, shift" in text
    assert "now       us-east-1/canary/stage-2/analysis" in text
    assert "25%" in text  # the traffic bar
    assert "29:00 left" in text  # the bake
    assert "0.042 <= 0.05" in text and "230 <= 1000" in text  # last gate values vs limits
    if width == 200:  # wide enough for the whole description
        assert "ErrorRate <= 0.05; Latency>1000ms" in text
    else:
        assert "…" in text  # cut, not wrapped


def test_the_bake_countdown_ticks_without_events() -> None:
    clock = VirtualClock()
    view, console = drive(100, clock)
    assert "29:00 left" in screen(view, console)
    clock.advance(90)  # no event: only the refresh thread would redraw
    assert "27:30 left" in screen(view, console)
    # the refresh is rich's own thread, drawing from the same callable
    assert view._live.auto_refresh and view._live._get_renderable == view.renderable


def test_colours_follow_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    plain = Console(file=io.StringIO(), force_terminal=True, width=80)
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("FORCE_COLOR", "1")
    coloured = Console(file=io.StringIO(), width=80)
    for console in (plain, coloured):
        view = LiveView(console, now=VirtualClock().now, live=False)
        plan = two_regions()
        view.run_started(RunInfo("r", "p", "e", "d", "s", "running", 0, 0, "u"), plan, False)
        view.run_finished(Outcome("r", "succeeded", 0, "run r succeeded"))
    colour = re.compile(r"\x1b\[[\d;]*;?3[1-7]m")  # an SGR foreground colour
    assert not colour.search(plain.file.getvalue())  # type: ignore[attr-defined]
    assert colour.search(coloured.file.getvalue())  # type: ignore[attr-defined]


def test_the_summary_follows_the_run() -> None:
    clock = VirtualClock()
    view, console = drive(120, clock)
    view.run_finished(Outcome("r", "succeeded", 0, "run r succeeded"))
    text = console.export_text()
    assert "run r succeeded" in text and "summary: run 20261128-101500-abc123" in text


def test_scrolled_lines_are_cut_to_the_width_not_wrapped() -> None:
    console = Console(record=True, width=40, file=io.StringIO(), force_terminal=True)
    view = LiveView(console, now=VirtualClock().now, live=False)
    view.message("rolling back: gate us-east-1/canary/stage-2/analysis: rollback trigger tripped")
    (line,) = console.export_text().splitlines()
    assert len(line) == 40 and line.endswith("…")


def test_the_summary_table_keeps_its_columns_at_80() -> None:
    clock = VirtualClock()
    view, console = drive(80, clock)
    console.export_text(clear=True)

    plan = view._plan
    assert plan is not None
    gate = "us-east-1/canary/stage-2/analysis"
    for rec in [
        Record(1, "r", "done", "us-east-1/canary/stage-2/shift", 1, None, clock.now(), {}),
        Record(
            2,
            "r",
            "check",
            gate,
            1,
            None,
            clock.now() + 60,
            {"number": 1, "status": "pass", "values": {"ErrorRate": 0.0421, "Latency": 250.0}},
        ),
    ]:
        view.record(rec)
    view.run_finished(Outcome("r", "succeeded", 0, "run r succeeded"))
    lines = console.export_text().splitlines()
    row = next(line for line in lines if "us-east-1/stage-2" in line)
    assert "25%" in row and "1/1" in row  # traffic and checks are not squeezed to "…"
    assert all(len(line) <= 80 for line in lines)
