"""What people see while a run goes: the CI log, the GitHub log, the live view."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from pathlib import Path

from deployctl.core.plan import MetricDef, MetricQuery
from deployctl.core.ports import CheckResult, Outcome, StepResult
from deployctl.core.records import RunInfo
from deployctl.execute.runner import Options
from deployctl.output.log import GITHUB, LogReporter
from deployctl.testing.clock import VirtualClock
from deployctl.testing.plans import make_plan, step

STAMP = re.compile(r"^\d\d:\d\d:\d\dZ ")

GATE_PARAMS = {
    "duration": 3600.0,
    "interval": 60.0,
    "metric": "ErrorRate",
    "threshold": 0.01,
    "metrics": ["ErrorRate"],
    "triggers": [{"metric": "Latency", "op": ">", "value": 1000.0}],
}


def gate_plan():  # type: ignore[no-untyped-def]
    return make_plan(
        step("us-east-1/canary/stage-1/shift", traffic=10, region="us-east-1", tags=("stage:1",)),
        step(
            "us-east-1/canary/stage-1/analysis",
            "gate.analysis",
            deps=("us-east-1/canary/stage-1/shift",),
            wait=3600.0,
            traffic=10,
            region="us-east-1",
            tags=("stage:1",),
            params=GATE_PARAMS,
        ),
        metrics={
            name: MetricDef(name, query=MetricQuery("N", name, "Sum"))
            for name in ("ErrorRate", "Latency")
        },
    )


def run_info(plan, clock: VirtualClock) -> RunInfo:  # type: ignore[no-untyped-def]
    now = clock.now()
    return RunInfo(
        "r1", plan.project, plan.environment, plan.digest, plan.source, "running", now, now, "me"
    )


def test_plain_lines_are_timestamped_merge_quick_steps_and_hide_secrets(make_executor, world):
    out = io.StringIO()
    plan = make_plan(
        step("shift", traffic=25, params={"token": "hunter2"}, outputs=("url",)),
        step("ok", "approval", deps=("shift",)),
    )
    plan = replace(plan, secret_values=frozenset({"url@shift"}))
    outcome = make_executor(reporter=LogReporter(out)).apply(plan)
    text = out.getvalue()
    assert outcome.exit_code == 6
    lines = text.splitlines()
    assert STAMP.match(lines[0]) and "starting run" in lines[0]
    done = [line for line in lines if "done   shift" in line]
    assert len(done) == 1 and "[traffic 25%] in 00:00 url=<redacted:" in done[0]
    # a step that ends at once gets one line, not a start line and an end line
    assert not any("start  shift" in line for line in lines)
    assert "url@shift" not in text
    assert f"deployctl approve {outcome.run_id} ok" in text
    assert "summary: run" in text


def drive_gate(reporter: LogReporter, clock: VirtualClock, values: list[float]) -> None:
    """A stage: the shift, then one check a minute with ``values`` of ErrorRate."""
    plan = gate_plan()
    shift, gate = plan.steps
    reporter.run_started(run_info(plan, clock), plan, False)
    reporter.step_started(shift, 1)
    reporter.step_finished(shift, StepResult(shift.id, "done"))
    reporter.step_started(gate, 1)
    for n, value in enumerate(values, 1):
        clock.advance(60)
        status = "fail" if value > 0.01 else "pass"
        result = CheckResult(
            status, {"ErrorRate": value, "Latency": 200.0 + n}, (), f"ErrorRate={value}"
        )
        reporter.gate_checked(gate, n, result, 3600.0 - 60 * n)
    reporter.step_finished(
        gate,
        StepResult(
            gate.id,
            "done" if max(values) <= 0.01 else "failed",
            error="gate failed" if max(values) > 0.01 else None,
        ),
    )


def test_gate_checks_are_condensed_to_crossings_failures_and_heartbeats():
    out = io.StringIO()
    clock = VirtualClock()
    reporter = LogReporter(out, now=clock.now, heartbeat=15 * 60.0, defer=0.0)
    values = [0.002] * 30
    values[20] = 0.0085  # 85% of the 0.01 limit: worth a line
    drive_gate(reporter, clock, values)
    lines = out.getvalue().splitlines()
    assert all(STAMP.match(line) for line in lines), lines
    checks = [line for line in lines if "check  " in line]
    assert len(checks) == 1 and "ErrorRate 0.0085 is 85% of its limit (<= 0.01)" in checks[0]
    beats = [line for line in lines if line[10:].startswith("gate   ")]
    # 30 one-minute checks, a heartbeat every 15 minutes of silence: one at 15:00
    # (the crossing at 21:00 restarts the count, the window ends before another)
    assert len(beats) == 1, beats
    assert (
        "15/15 checks passed" in beats[0] and "ErrorRate 0.002..0.002 (limit <= 0.01)" in beats[0]
    )
    assert any("stage  us-east-1/stage-1: 10% traffic" in line for line in lines)
    assert len(lines) < 10


def test_verbose_prints_every_check_and_quiet_only_failures():
    loud, quiet = io.StringIO(), io.StringIO()
    drive_gate(LogReporter(loud, now=VirtualClock().now, verbosity=1), VirtualClock(), [0.002] * 5)
    drive_gate(
        LogReporter(quiet, now=VirtualClock().now, verbosity=-1),
        VirtualClock(),
        [0.002, 0.002, 0.5],
    )
    assert len([line for line in loud.getvalue().splitlines() if "check  " in line]) == 5
    text = quiet.getvalue()
    assert "done   " not in text and "stage  " not in text
    assert "#3: fail" in text and "FAILED us-east-1/canary/stage-1/analysis" in text


def test_github_format_groups_stages_annotates_failures_and_writes_the_step_summary(
    tmp_path: Path, make_executor, world, clock
):
    world.data["metrics"]["*"] = {
        "ErrorRate": 0.02,
        "Latency": 200.0,
    }  # over the 0.01 limit: the gate fails
    out = io.StringIO()
    summary_file = tmp_path / "summary.md"
    reporter = LogReporter(out, now=clock.now, style=GITHUB, step_summary=str(summary_file))
    outcome = make_executor(reporter=reporter).apply(gate_plan(), Options())
    assert outcome.exit_code == 3
    lines = out.getvalue().splitlines()
    assert "::group::us-east-1/stage-1" in lines
    opened = lines.index("::group::us-east-1/stage-1")
    closed = lines.index("::endgroup::")
    assert opened < closed
    inside = lines[opened:closed]
    assert any("FAILED us-east-1/canary/stage-1/analysis" in line for line in inside)
    assert any("#1: fail (ErrorRate=0.02 > 0.01)" in line for line in inside)
    # rollback progress and the outcome are outside every group
    assert all("undone" not in line for line in inside)
    errors = [line for line in lines if line.startswith("::error ")]
    assert len(errors) == 2, errors
    # properties escape ':' and ','; messages escape '%'
    assert errors[0].startswith(
        "::error title=deployctl%3A us-east-1/canary/stage-1/analysis failed::"
    )
    assert errors[1].startswith("::error title=deployctl run::run ") and "rolled back" in errors[1]
    text = summary_file.read_text()
    assert text.startswith("### deployctl: demo (prod) rolled back")
    assert "| stage | traffic | time | checks passed | worst vs limit |" in text
    assert "| us-east-1/stage-1 | 10% |" in text and "ErrorRate 0.02 (limit <= 0.01, 200%)" in text
    assert "Undone: `us-east-1/canary/stage-1/shift`" in text


def test_a_percent_in_an_annotation_is_escaped():
    out = io.StringIO()
    reporter = LogReporter(out, style=GITHUB)
    reporter.run_finished(Outcome("r1", "rolled_back", 3, "run r1 rolled back: 50% done"))
    assert out.getvalue().splitlines()[-1].endswith("rolled back: 50%25 done")


def test_the_summary_says_per_stage_traffic_time_checks_and_worst_value(
    make_executor, world, clock
):
    world.data["metrics"]["*"] = {"ErrorRate": 0.004, "Latency": 200.0}
    out = io.StringIO()
    executor = make_executor(reporter=LogReporter(out, now=clock.now))
    outcome = executor.apply(gate_plan(), Options())
    assert outcome.exit_code == 0
    text = out.getvalue()
    head = next(line for line in text.splitlines() if "summary: run" in line)
    assert "succeeded in 1:00:00; final traffic us-east-1 10%; nothing undone" in head
    row = next(line for line in text.splitlines() if line.startswith("  us-east-1/stage-1"))
    assert "10%" in row and "1:00:00" in row and "60/60" in row
    assert "ErrorRate 0.004 (limit <= 0.01, 40%)" in row
