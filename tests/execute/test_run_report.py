"""``deployctl report RUN_ID``: the run's timeline from the journal, charted."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from html.parser import HTMLParser
from pathlib import Path

import pytest

from deployctl.actions.registry import Backend
from deployctl.cli import main
from deployctl.core.plan import MetricDef, MetricQuery
from deployctl.core.ports import MetricsSource
from deployctl.execute.runner import Executor
from deployctl.testing.clock import VirtualClock
from deployctl.testing.fake import FakeWorld, fake_registry
from deployctl.testing.plans import make_plan, step

ERRORS = [0.001, 0.002, 0.004, 0.003, 0.0085, 0.002]  # stage 1 (limit 0.01), 3 checks a stage
LATENCY = [200.0, 210.0, 250.0, 300.0, 320.0, 310.0]


class Scripted(MetricsSource):
    """Each fetch returns the next value of each series."""

    def __init__(self) -> None:
        self.n = 0

    def fetch(
        self, region: str | None, metrics: Mapping[str, MetricDef], start: float, end: float
    ) -> Mapping[str, float | None]:
        n, self.n = self.n, self.n + 1
        return {"ErrorRate": ERRORS[n], "Latency": LATENCY[n]}


def gate(n: int, threshold: float):  # type: ignore[no-untyped-def]
    return step(
        f"us-east-1/canary/stage-{n}/analysis",
        "gate.analysis",
        deps=(f"us-east-1/canary/stage-{n}/shift",),
        wait=180.0,
        traffic=10 * n,
        region="us-east-1",
        tags=(f"stage:{n}",),
        params={
            "duration": 180.0,
            "interval": 60.0,
            "metric": "ErrorRate",
            "threshold": threshold,
            "metrics": ["ErrorRate", "Latency"],
            "triggers": [{"metric": "Latency", "op": ">", "value": 1000.0}],
        },
    )


@pytest.fixture
def finished_run(tmp_path: Path) -> tuple[str, str]:
    plan = make_plan(
        step("us-east-1/canary/stage-1/shift", traffic=10, region="us-east-1", tags=("stage:1",)),
        gate(1, 0.01),
        step(
            "us-east-1/canary/stage-2/shift",
            deps=("us-east-1/canary/stage-1/analysis",),
            traffic=20,
            region="us-east-1",
            tags=("stage:2",),
        ),
        gate(2, 0.05),
        metrics={
            n: MetricDef(n, query=MetricQuery("N", n, "Sum")) for n in ("ErrorRate", "Latency")
        },
    )
    state = str(tmp_path / "state")
    backend = Backend(
        fake_registry(FakeWorld(str(tmp_path / "w.json"))), VirtualClock(), Scripted()
    )
    executor = Executor(state, backend)
    try:
        outcome = executor.apply(plan)
    finally:
        executor.close()
    assert outcome.exit_code == 0, outcome.message
    return state, outcome.run_id


def report(capsys: pytest.CaptureFixture[str], state: str, run_id: str, fmt: str) -> str:
    assert main(["report", run_id, "--state-dir", state, "--format", fmt]) == 0
    return capsys.readouterr().out


XYCHART = re.compile(
    r"```mermaid\nxychart-beta\n"
    r'    title "(?P<title>[^"\n]+)"\n'
    r'    x-axis "[^"\n]+" (?P<x0>[\d.]+) --> (?P<x1>[\d.]+)\n'
    r'    y-axis "[^"\n]+" 0 --> (?P<top>[\d.e+-]+)\n'
    r"(?P<lines>(?:    line \[[^\]\n]+\]\n)+)```"
)


def charts(markdown: str) -> dict[str, list[list[float]]]:
    found = {}
    for match in XYCHART.finditer(markdown):
        assert float(match["x0"]) < float(match["x1"])
        series = [
            [float(v) for v in line.removeprefix("    line [").removesuffix("]").split(", ")]
            for line in match["lines"].splitlines()
        ]
        assert len({len(s) for s in series}) == 1  # every line has a value per x
        assert max(max(s) for s in series) <= float(match["top"])
        found[match["title"]] = series
    return found


def test_markdown_charts_traffic_and_each_metric_against_its_limit_with_real_values(
    capsys: pytest.CaptureFixture[str], finished_run: tuple[str, str]
) -> None:
    state, run_id = finished_run
    text = report(capsys, state, run_id, "markdown")
    assert text.count("```mermaid") == 3
    found = charts(text)
    assert set(found) == {
        "Traffic on the new version (%)",
        "ErrorRate against its limit",
        "Latency against its limit",
    }
    (traffic,) = found["Traffic on the new version (%)"]
    assert set(traffic) == {10.0, 20.0} and traffic[0] == 10 and traffic[-1] == 20
    values, limits = found["ErrorRate against its limit"]
    assert values == ERRORS  # six checks: each one is a point
    assert limits == [0.01] * 3 + [0.05] * 3  # the limit changes with the stage
    latency, latency_limit = found["Latency against its limit"]
    assert latency == LATENCY and set(latency_limit) == {1000.0}
    assert "| us-east-1/stage-1 | 10% | 03:00 | 3/3 | ErrorRate 0.004 (limit <= 0.01, 40%)" in text
    assert "| us-east-1/stage-2 | 20% |" in text and "ErrorRate 0.0085 (limit <= 0.05, 17%)" in text
    assert "`us-east-1/canary/stage-2/shift` | done" in text  # the events table


def test_json_report_is_versioned_and_holds_every_check(
    capsys: pytest.CaptureFixture[str], finished_run: tuple[str, str]
) -> None:
    state, run_id = finished_run
    data = json.loads(report(capsys, state, run_id, "json"))
    assert data["format_version"] == 1 and data["run"]["run_id"] == run_id
    assert [c["values"]["ErrorRate"] for c in data["checks"]] == ERRORS
    assert data["final_traffic"] == {"us-east-1": 20} and data["status"] == "succeeded"


class Figures(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.figures: list[dict[str, str | None]] = []
        self.svgs_in_figures = 0
        self.inside = False
        self.external: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "figure":
            self.figures.append(found)
            self.inside = True
        elif tag == "svg" and self.inside:
            self.svgs_in_figures += 1
        elif tag == "script":
            self.scripts += 1
        for name in ("src", "href"):
            value = found.get(name) or ""
            if value and not value.startswith("#"):
                self.external.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self.inside = False


def test_html_report_is_one_self_contained_file_with_a_chart_per_metric(
    capsys: pytest.CaptureFixture[str], finished_run: tuple[str, str], tmp_path: Path
) -> None:
    state, run_id = finished_run
    out = tmp_path / "run.html"
    assert (
        main(["report", run_id, "--state-dir", state, "--format", "html", "--out", str(out)]) == 0
    )
    parser = Figures()
    parser.feed(out.read_text())
    parser.close()
    metrics = sorted(f["data-key"] or "" for f in parser.figures if f["data-chart"] == "metric")
    assert metrics == ["ErrorRate", "Latency"]  # one chart per gated metric
    assert [f["data-key"] for f in parser.figures if f["data-chart"] == "traffic"] == ["traffic"]
    assert parser.svgs_in_figures == len(parser.figures) == 3
    assert parser.scripts == 0 and parser.external == []  # nothing fetched, nothing run


def test_an_unknown_run_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["report", "nope", "--state-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope" in err


def test_a_pipelines_environments_are_stages_of_their_own() -> None:
    from deployctl.execute.timeline import stage_of, wave_of

    for env in ("staging", "prod"):
        switch = step(
            f"{env}/us-east-1/blue-green/switch",
            region="us-east-1",
            tags=("region:us-east-1", "stage:1"),
        )
        assert stage_of(switch) == f"{env}/us-east-1/stage-1"
        assert wave_of(switch) == f"{env}/us-east-1"
    routing = step("routing/route53", region="us-east-1")
    assert (stage_of(routing), wave_of(routing)) == ("routing", "us-east-1")
    assert stage_of(step("us-east-1/monitor", region="us-east-1", tags=("phase:monitor",))) == (
        "us-east-1/monitor"
    )
