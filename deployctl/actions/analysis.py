"""``gate.analysis``: the built-in gate.  One check = one metrics fetch for the
step's region, then the stage threshold and the rollback triggers evaluated
by deployctl itself.  Timing, ``failure_limit`` and ``missing_data`` are the
executor's (:mod:`deployctl.execute.gates`), so every gate behaves alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deployctl.core.kinds import StepKind
from deployctl.core.params import GateAnalysisParams
from deployctl.core.ports import FAIL, NO_DATA, PASS, Action, CheckResult, Observation, Registry
from deployctl.core.ports import StepRequest as Request
from deployctl.errors import DeployctlError
from deployctl.manifest.triggers import Trigger


def _triggers(p: GateAnalysisParams) -> list[Trigger]:
    return [
        Trigger(t.metric, t.op, float(t.value), t.unit, t.text or f"{t.metric}{t.op}{t.value}")
        for t in p.triggers or ()
    ]


class AnalysisGate(Action):
    gate = True

    def observe(self, request: Request) -> Observation:
        return Observation(applied=False)

    def apply(self, request: Request) -> Mapping[str, Any]:
        return {}

    def check(self, request: Request) -> CheckResult:
        p = GateAnalysisParams.from_params(request.params)
        metric, threshold = p.metric, p.threshold
        triggers = _triggers(p)
        names = set(p.metrics or ())
        names.update(t.metric for t in triggers)
        if metric and threshold is not None:
            names.add(metric)
        unknown = sorted(n for n in names if n not in request.metric_defs)
        if unknown:
            raise DeployctlError(f"gate {request.step.id}: no metric definition for {unknown}")
        alarms = [str(a) for a in p.alarms or ()]
        if not names and not alarms:
            return CheckResult(PASS, detail="nothing to check")
        if request.metrics is None:
            raise DeployctlError(f"gate {request.step.id}: no metrics source configured")
        now = request.clock.now()
        interval = float(p.interval or 60.0)
        defs = {n: request.metric_defs[n] for n in sorted(names)}
        values: dict[str, float | None] = {}
        if defs:
            values = dict(request.metrics.fetch(request.step.region, defs, now - interval, now))
        missing = sorted(n for n in names if values.get(n) is None)
        tripped = tuple(
            t.text
            for t in triggers
            if values.get(t.metric) is not None and t.breached(float(values[t.metric]))  # type: ignore[arg-type]
        )
        if alarms:
            states = request.metrics.alarm_states(request.step.region, alarms)
            # A missing alarm is a failure: CloudWatch would call it OK, and a
            # typo would then watch nothing.
            tripped += tuple(f"alarm {a} does not exist" for a in alarms if states.get(a) is None)
            tripped += tuple(f"alarm {a} in ALARM" for a in alarms if states.get(a) == "ALARM")
            missing += [f"alarm {a}" for a in alarms if states.get(a) == "INSUFFICIENT_DATA"]
        failed = False
        notes = []
        if metric and threshold is not None and values.get(metric) is not None:
            value = float(values[metric])  # type: ignore[arg-type]
            failed = value > float(threshold)
            notes.append(f"{metric}={value:g} {'>' if failed else '<='} {float(threshold):g}")
        if tripped:
            notes.append("tripped " + ", ".join(tripped))
        if missing:
            notes.append("no data for " + ", ".join(missing))
        status = FAIL if failed or tripped else NO_DATA if missing else PASS
        return CheckResult(status, values, tripped, "; ".join(notes) or "ok")


def register(registry: Registry) -> None:
    """Built-ins come in the same way a plugin's actions do."""
    registry.register(StepKind.GATE_ANALYSIS, AnalysisGate())
