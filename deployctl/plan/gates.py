"""Gate steps: wait a stage's duration while checking thresholds and triggers."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from deployctl.core.params import GateAnalysisParams
from deployctl.core.params import Trigger as TriggerParams
from deployctl.manifest import model as m
from deployctl.manifest.durations import format_duration
from deployctl.manifest.triggers import Trigger
from deployctl.plan.api import Step


# A plan's gates share its few triggers: built once each, not once per gate.
@functools.lru_cache(maxsize=1024)
def trigger_params(trigger: Trigger) -> TriggerParams:
    return TriggerParams(
        metric=trigger.metric,
        op=trigger.op,
        value=trigger.value,
        unit=trigger.unit,
        text=trigger.text,
    )


def gate_step(
    step_id: str,
    *,
    duration: float,
    interval: float,
    threshold: float | None,
    analysis: m.Analysis,
    triggers: Sequence[Trigger],
    deps: Sequence[str],
    region: str,
    tags: Sequence[str],
    traffic: int | None = None,
    label: str = "analysis",
    alarms: Sequence[str] = (),
) -> Step:
    """A read-only step that lasts ``duration`` and fails on a breach, or when
    one of ``alarms`` (existing CloudWatch alarms) is in ALARM."""
    metrics = sorted(
        {t.metric for t in triggers} | ({analysis.metric} if threshold is not None else set())
    )
    checks = []
    if threshold is not None:
        checks.append(f"{analysis.metric} <= {threshold:g}")
    checks.extend(t.text for t in triggers)
    alarms = list(dict.fromkeys(alarms))
    if alarms:
        checks.append(f"alarm(s) {', '.join(alarms)} not in ALARM")
    what = f"{label} {format_duration(duration)}"
    if checks:
        what += f", every {format_duration(interval)}: {'; '.join(checks)}"
    params = GateAnalysisParams(
        duration=duration,
        interval=interval,
        metric=analysis.metric if threshold is not None else None,
        threshold=threshold,
        failure_limit=analysis.failure_limit,
        missing_data=analysis.missing_data,
        triggers=tuple(trigger_params(t) for t in triggers),
        metrics=tuple(metrics),
        alarms=tuple(alarms),
    )
    return Step(
        id=step_id,
        kind=params.KIND,
        description=what,
        params=params.to_params(),
        deps=tuple(deps),
        region=region,
        tags=tuple(tags),
        traffic=traffic,
        wait=duration,
        mutating=False,
    )
