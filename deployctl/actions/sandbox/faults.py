"""``--sandbox-fault``: what goes wrong in a sandbox run, and the synthetic
metrics that show it.

Grammar (one fault per flag, the flag is repeatable)::

    FAULT    := METRIC=VALUE[@WHERE] | fail@WHERE
    VALUE    := NUMBER[%|ms|s] | nodata        (normalised like rollback triggers:
                                                 20% -> 0.2, 2s -> 2000 ms)
    WHERE    := SELECTOR[,SELECTOR...]         (a step must match every selector)
    SELECTOR := a step tag       stage:2  region:eu-west-1  wave:2  phase:monitor  promote
              | a step id, or consecutive /-separated parts of one
                                 us-east-1/canary/stage-2/analysis  canary/stage-2  smoke/health

``ErrorRate=0.2@stage:2`` makes every gate check of stage 2 see a 20% error
rate; ``Latency=1500ms@region:eu-west-1`` slows the eu-west-1 gates;
``fail@smoke/health`` fails that smoke test (any other step raises instead).
Without ``@`` a metric fault applies to every gate.  A fault naming a metric
the plan does not define, or matching no step, is a user error.

Every metric no fault names is *healthy*: a fifth of the tightest bound the
gate checks it against (its stage threshold or a rollback trigger), with a
small deterministic wobble so the live view moves.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from deployctl.core.kinds import StepKind
from deployctl.core.params import GateAnalysisParams
from deployctl.core.plan import MetricDef, Plan, Step
from deployctl.core.ports import MetricsSource
from deployctl.errors import UserError

FAIL = "fail"
NODATA = "nodata"
_SPEC = re.compile(
    r"^(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)"
    r"(?:=(?P<value>-?\d+(?:\.\d+)?)(?P<unit>%|ms|s)?|=(?P<nodata>nodata))?"
    r"(?:@(?P<where>[^@]+))?$"
)
HEALTHY_SHARE = 0.2  # of the tightest upper bound
GOLDEN = 0.618  # spreads the wobble evenly over successive checks


@dataclass(frozen=True)
class Fault:
    text: str  # as written, for messages
    metric: str | None  # None: the ``fail`` fault
    value: float | None  # normalised; None is no data
    where: tuple[str, ...]  # every selector must match

    def matches(self, step: Step) -> bool:
        return all(_selects(selector, step) for selector in self.where)


def _selects(selector: str, step: Step) -> bool:
    if selector in step.tags:
        return True
    parts, want = step.id.split("/"), selector.strip("/").split("/")
    return any(parts[i : i + len(want)] == want for i in range(len(parts) - len(want) + 1))


def parse_fault(text: str) -> Fault:
    """One ``--sandbox-fault`` value; raises :class:`UserError` saying what is wrong."""
    match = _SPEC.match(text.strip())
    bad = f"--sandbox-fault {text!r}"
    if not match:
        raise UserError(
            f"{bad}: expected METRIC=VALUE[@WHERE] or fail@WHERE, "
            "e.g. ErrorRate=0.2@stage:2 or Latency=1500ms@region:eu-west-1"
        )
    name, where = match.group("name"), match.group("where")
    selectors = tuple(s.strip() for s in (where or "").split(",") if s.strip())
    if where is not None and not selectors:
        raise UserError(f"{bad}: nothing after '@'")
    if name == FAIL:
        if match.group("value") or match.group("nodata"):
            raise UserError(f"{bad}: 'fail' takes no value; write fail@WHERE")
        if not selectors:
            raise UserError(f"{bad}: say which step fails, e.g. fail@smoke/health")
        return Fault(text, None, None, selectors)
    if match.group("nodata"):
        return Fault(text, name, None, selectors)
    if match.group("value") is None:
        raise UserError(f"{bad}: {name} needs a value, e.g. {name}=0.2 or {name}=1500ms")
    value = float(match.group("value"))
    unit = match.group("unit")
    if unit == "%":
        value /= 100.0
    elif unit == "s":
        value *= 1000.0
    return Fault(text, name, value, selectors)


def parse_faults(texts: Iterable[str], plan: Plan, gates: Sequence[Step]) -> tuple[Fault, ...]:
    """Parse and check every fault against ``plan``: known metrics, selectors
    that match a step (a gate, for metric faults)."""
    out = []
    for text in texts:
        fault = parse_fault(text)
        bad = f"--sandbox-fault {text!r}"
        if fault.metric is not None and fault.metric not in plan.metrics:
            known = ", ".join(sorted(plan.metrics)) or "none"
            raise UserError(f"{bad}: the plan defines no metric {fault.metric} (it has: {known})")
        pool = gates if fault.metric is not None else plan.steps
        if not any(fault.matches(step) for step in pool):
            what = "gate" if fault.metric is not None else "step"
            sample = ", ".join(s.id for s in pool[:4]) + (", ..." if len(pool) > 4 else "")
            raise UserError(
                f"{bad}: {','.join(fault.where)} matches no {what} of {plan.source} "
                f"({what}s: {sample or 'none'})"
            )
        out.append(fault)
    return tuple(out)


def healthy(metric: str, gate: GateAnalysisParams | None, check: int = 0) -> float:
    """A value that passes every bound ``gate`` puts on ``metric`` (None: a
    gate of another kind, whose bounds the sandbox cannot know)."""
    upper: list[float] = []
    lower: list[float] = []
    for trigger in gate.triggers if gate is not None else ():
        if trigger.metric == metric:
            (upper if str(trigger.op).startswith(">") else lower).append(float(trigger.value))
    if gate is not None and gate.metric == metric and gate.threshold is not None:
        upper.append(float(gate.threshold))
    wobble = 0.75 + 0.5 * ((check * GOLDEN) % 1.0)
    if upper:
        return round(min(upper) * HEALTHY_SHARE * wobble, 6)
    if lower:
        floor = max(lower)
        return round(floor * 1.2 if floor > 0 else 1.0, 6)
    return 0.0


class SandboxMetrics(MetricsSource):
    """Synthetic metrics: healthy unless a fault names the metric and the step.

    The executor's ``fetch`` does not say which step asks, so the sandbox
    layer hands each gate :meth:`for_step`; a bare ``fetch`` (no step known)
    applies only faults without a selector.
    """

    def __init__(self, faults: Sequence[Fault]) -> None:
        self.faults = tuple(f for f in faults if f.metric is not None)
        self._checks: Counter[str] = Counter()
        self._lock = threading.Lock()

    def values(
        self, step: Step | None, names: Iterable[str], gate: GateAnalysisParams | None = None
    ) -> dict[str, float | None]:
        key = step.id if step else ""
        with self._lock:
            self._checks[key] += 1
            check = self._checks[key]
        out: dict[str, float | None] = {}
        for name in names:
            fault = next(
                (
                    f
                    for f in self.faults
                    if f.metric == name and (f.matches(step) if step else not f.where)
                ),
                None,
            )
            out[name] = fault.value if fault else healthy(name, gate, check)
        return out

    def for_step(self, step: Step) -> MetricsSource:
        return _StepMetrics(self, step)

    def alarm_states(self, region: str | None, names: Sequence[str]) -> Mapping[str, str | None]:
        """The team's own alarms live in the real account: in the sandbox they are all OK."""
        return dict.fromkeys(names, "OK")

    def fetch(
        self, region: str | None, metrics: Mapping[str, MetricDef], start: float, end: float
    ) -> Mapping[str, float | None]:
        return self.values(None, metrics)


class _StepMetrics(MetricsSource):
    def __init__(self, source: SandboxMetrics, step: Step) -> None:
        self.source = source
        self.step = step
        self.gate = (
            GateAnalysisParams.from_params(step.params)
            if step.kind == StepKind.GATE_ANALYSIS
            else None
        )

    def fetch(
        self, region: str | None, metrics: Mapping[str, MetricDef], start: float, end: float
    ) -> Mapping[str, float | None]:
        return self.source.values(self.step, metrics, self.gate)

    def alarm_states(self, region: str | None, names: Sequence[str]) -> Mapping[str, str | None]:
        return self.source.alarm_states(region, names)
