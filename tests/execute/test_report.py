"""What people see while a run goes: plain lines, the live line, redaction."""

from __future__ import annotations

import io
from dataclasses import replace

from deployctl.execute.report import LiveReporter, PlainReporter
from deployctl.execute.runner import Options
from deployctl.manifest.model import MetricDef, MetricQuery
from deployctl.testing.plans import make_plan, step


def test_plain_lines_show_steps_gates_and_the_outcome_with_secrets_redacted(
    make_executor, world
):
    out = io.StringIO()
    plan = make_plan(
        step("shift", traffic=25, params={"token": "hunter2"}, outputs=("url",)),
        step("ok", "approval", deps=("shift",)),
    )
    plan = replace(plan, secret_values=frozenset({"url@shift"}))
    outcome = make_executor(reporter=PlainReporter(out)).apply(plan)
    text = out.getvalue()
    assert outcome.exit_code == 6
    assert "starting run" in text and "done   shift [traffic 25%] url=***" in text
    assert "url@shift" not in text
    assert f"deployctl approve {outcome.run_id} ok" in text


def test_the_live_view_tracks_traffic_bake_time_and_the_last_gate(make_executor, world):
    out = io.StringIO()
    world.data["metrics"]["*"] = {"ErrorRate": 0.001}
    plan = make_plan(
        step("shift", traffic=10),
        step("gate", "gate.analysis", deps=("shift",), wait=600.0,
             params={"duration": 600.0, "interval": 60.0, "metric": "ErrorRate",
                     "threshold": 0.01, "metrics": ["ErrorRate"]}),
        metrics={"ErrorRate": MetricDef("ErrorRate", query=MetricQuery("N", "M", "Sum"))},
    )
    live = LiveReporter(out)
    make_executor(reporter=live).apply(plan, Options())
    text = out.getvalue()
    assert "\r\033[K" in text
    assert "traffic 10%" in text
    assert "bake 09:00 left" in text and "last gate: pass (ErrorRate=0.001 <= 0.01)" in text
