"""Series for a run's charts (traffic %, each gated metric against its limit)
and their two drawings: a mermaid ``xychart-beta`` block (GitHub renders it
in markdown) and an inline SVG drawn by matplotlib (the ``report`` extra).

Pure down to :func:`svg`, which imports matplotlib only when called.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

from deployctl.execute.timeline import Timeline

MAX_POINTS = 60  # mermaid spreads a line's points evenly; more would only crowd them


@dataclass(frozen=True)
class Chart:
    key: str  # "traffic" or the metric name
    title: str
    y_label: str
    x: tuple[float, ...]  # minutes since the run started, evenly spaced
    lines: tuple[tuple[str, tuple[float, ...]], ...]  # (label, values), one value per x
    y_top: float | None = None  # a fixed top (100 for traffic)

    @property
    def y_max(self) -> float:
        if self.y_top is not None:
            return self.y_top
        top = max((v for _, values in self.lines for v in values), default=0.0)
        return top * 1.1 if top > 0 else 1.0


def _grid(start: float, end: float, count: int) -> list[float]:
    if count <= 1 or end <= start:
        return [start]
    step = (end - start) / (count - 1)
    return [start + n * step for n in range(count)]


def _minutes(tl: Timeline, at: float) -> float:
    return round((at - (tl.started or at)) / 60.0, 2)


def traffic_chart(tl: Timeline) -> Chart | None:
    if not tl.traffic or tl.started is None or tl.ended is None:
        return None
    regions = list(dict.fromkeys(p.region or "" for p in tl.traffic))
    grid = _grid(tl.started, tl.ended, MAX_POINTS)
    lines = []
    for region in regions:
        changes = [p for p in tl.traffic if (p.region or "") == region]
        values = []
        for at in grid:
            now = [p.traffic for p in changes if p.at <= at]
            values.append(float(now[-1]) if now else 0.0)
        # A stage shorter than the grid's step still shows: its value takes
        # the first grid point after it began.
        for change in changes:
            if float(change.traffic) not in values:
                n = next((i for i, at in enumerate(grid) if at >= change.at), len(grid) - 1)
                values[n] = float(change.traffic)
        lines.append((region or "traffic", tuple(values)))
    title = "Traffic on the new version (%)"
    return Chart("traffic", title, "%", tuple(_minutes(tl, at) for at in grid), tuple(lines), 100.0)


def metric_charts(tl: Timeline) -> list[Chart]:
    out = []
    for metric in tl.metrics:
        checks = [c for c in tl.checks if metric in c.limits]
        seen = [c for c in checks if c.values.get(metric) is not None]
        if not seen:
            continue
        limit0 = checks[0].limits[metric]
        count = min(MAX_POINTS, len(checks))
        grid = _grid(checks[0].at, checks[-1].at, count)
        # Each check lies within half a step of a grid point, and a point shows
        # the worst check near it: the run's worst value is always drawn.
        half = (grid[1] - grid[0]) / 2 if len(grid) > 1 else float("inf")
        values: list[float] = []
        limits: list[float] = []
        last_value = float(seen[0].values[metric] or 0.0)
        last_limit = limit0.value
        for at in grid:
            bucket = [c for c in checks if abs(c.at - at) <= half]
            observed = [float(v) for c in bucket if (v := c.values.get(metric)) is not None]
            if observed:
                worst = observed[0]
                for v in observed[1:]:
                    worst = limit0.worse(worst, v)
                last_value = worst
            if bucket:
                last_limit = bucket[-1].limits[metric].value
            values.append(last_value)
            limits.append(last_limit)
        out.append(
            Chart(
                metric,
                f"{metric} against its limit",
                metric,
                tuple(_minutes(tl, at) for at in grid),
                ((metric, tuple(values)), (f"limit (fails when {limit0.op})", tuple(limits))),
            )
        )
    return out


def charts(tl: Timeline) -> list[Chart]:
    traffic = traffic_chart(tl)
    return ([traffic] if traffic else []) + metric_charts(tl)


def _num(value: float) -> str:
    return f"{value:.6g}"


def _quote(text: str) -> str:
    return '"' + re.sub(r'["\n]', "'", text) + '"'


def mermaid(chart: Chart) -> str:
    """A mermaid ``xychart-beta`` block (the fence included)."""
    lo, hi = chart.x[0], chart.x[-1] if chart.x[-1] > chart.x[0] else chart.x[0] + 1
    lines = [
        "```mermaid",
        "xychart-beta",
        f"    title {_quote(chart.title)}",
        f'    x-axis "minutes since the run started" {_num(lo)} --> {_num(hi)}',
        f"    y-axis {_quote(chart.y_label)} 0 --> {_num(chart.y_max)}",
    ]
    for _label, values in chart.lines:
        lines.append("    line [" + ", ".join(_num(v) for v in values) + "]")
    lines.append("```")
    return "\n".join(lines)


def svg(chart: Chart) -> str:
    """The chart as an inline ``<svg>`` element (needs matplotlib)."""
    import matplotlib as mpl  # noqa: PLC0415 - the report extra, loaded only here
    from matplotlib.figure import Figure  # noqa: PLC0415

    with mpl.rc_context({"svg.hashsalt": chart.key, "svg.fonttype": "none"}):
        fig = Figure(figsize=(8, 2.6), dpi=100)
        ax = fig.add_subplot()
        styles: Sequence[str] = ("-", "--", ":", "-.")
        for n, (label, values) in enumerate(chart.lines):
            ax.plot(chart.x, values, linestyle=styles[n % len(styles)], label=label)
        ax.set_title(chart.title)
        ax.set_xlabel("minutes since the run started")
        ax.set_ylabel(chart.y_label)
        ax.set_ylim(0, chart.y_max)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize="small")
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    return text[text.index("<svg") :]
