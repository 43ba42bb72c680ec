"""A run's timeline, folded from its journal records: traffic over time, every
gate check with the limits it was held to, and per stage what happened.

Pure (plan + records in, frozen data out), so the end-of-run summary, the
``report`` command and the notifications all tell the same story, whether
the records come from the journal or from the reporter of the live process.

A *stage* is where a step belongs for people: ``us-east-1/stage-2`` for the
steps tagged ``stage:2`` in us-east-1, ``us-east-1/deploy`` for a phase
(``phase:deploy``), else the step id's parent (``routing``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from deployctl.core.kinds import StepKind
from deployctl.core.params import GateAnalysisParams, ParamsError
from deployctl.core.plan import Plan, Step
from deployctl.core.records import Record, RunInfo
from deployctl.core.status import Verdict
from deployctl.execute import api

UPPER = (">", ">=")
_BACKWARD = frozenset(
    {api.UNDO_INTENT, api.UNDONE, api.UNDO_FAILED, api.ROLLBACK_STOPPED}
)  # a limit that fails above its value


@dataclass(frozen=True)
class Limit:
    """What a gate holds a metric to: it fails when ``value op limit``."""

    metric: str
    op: str  # > >= < <= : the failing comparison
    value: float

    @property
    def upper(self) -> bool:
        return self.op in UPPER

    def share(self, observed: float) -> float | None:
        """How far ``observed`` has gone towards an upper limit (1.0: at it).
        None for a lower limit, where a fraction of the limit means nothing."""
        if not self.upper or self.value <= 0:
            return None
        return observed / self.value

    def worse(self, a: float, b: float) -> float:
        """The one of two observations nearer to failing."""
        return max(a, b) if self.upper else min(a, b)

    def text(self) -> str:
        """The passing side, for people: ``<= 0.05``."""
        ok = {">": "<=", ">=": "<", "<": ">=", "<=": ">"}[self.op]
        return f"{ok} {self.value:g}"


def limits_for(step: Step) -> dict[str, Limit]:
    """Each metric ``step`` watches, with the tightest limit on it: a
    ``gate.analysis`` step's threshold and triggers; none for any other kind
    (a smoke test, a plugin's gate), nor for params this version cannot read
    (a report of a hand-made plan still shows its checks)."""
    if step.kind != StepKind.GATE_ANALYSIS:
        return {}
    try:
        p = GateAnalysisParams.from_params(step.params)
    except ParamsError:
        return {}
    found: dict[str, Limit] = {}

    def keep(limit: Limit) -> None:
        old = found.get(limit.metric)
        if old is None or old.upper != limit.upper or (limit.value < old.value) == limit.upper:
            found[limit.metric] = limit

    if p.metric and p.threshold is not None:
        with contextlib.suppress(TypeError, ValueError):
            keep(Limit(str(p.metric), ">", float(p.threshold)))
    for trigger in p.triggers:  # a hand-made plan's trigger may be anything
        with contextlib.suppress(AttributeError, TypeError, ValueError):
            keep(Limit(str(trigger.metric), str(trigger.op), float(trigger.value)))
    return found


def stage_of(step: Step) -> str:
    tags = dict(t.split(":", 1) for t in step.tags if ":" in t)
    parts = step.id.split("/")
    if "stage" in tags:
        name = f"stage-{tags['stage']}"
    elif "phase" in tags:
        name = tags["phase"]
    else:  # untagged: the step's own group in its id (routing/route53 -> routing)
        return "/".join(parts[:-1]) if len(parts) > 1 else step.id
    if not step.region:
        return name
    # A pipeline's steps start with their environment (staging/us-east-1/...):
    # staging's stage 1 is not prod's.
    where = parts.index(step.region) if step.region in parts else 0
    env = f"{parts[0]}/" if where > 0 else ""
    return f"{env}{step.region}/{name}"


def wave_of(step: Step) -> str:
    """The region (with a pipeline's environment: ``staging/us-east-1``) a step
    belongs to; ``global`` for steps of no region."""
    if not step.region:
        return "global"
    head = stage_of(step).rsplit("/", 1)[0]
    return head if head.endswith(step.region) else step.region


@dataclass(frozen=True)
class CheckPoint:
    at: float
    step_id: str
    stage: str
    number: int
    status: str  # pass | fail | no_data
    values: Mapping[str, float | None]
    limits: Mapping[str, Limit]


@dataclass(frozen=True)
class TrafficPoint:
    at: float
    region: str | None
    traffic: int  # percent on the new version


@dataclass(frozen=True)
class Worst:
    metric: str
    value: float
    limit: Limit

    def text(self) -> str:
        share = self.limit.share(self.value)
        pct = f", {share:.0%}" if share is not None else ""
        return f"{self.metric} {self.value:.4g} (limit {self.limit.text()}{pct})"


@dataclass(frozen=True)
class StageSummary:
    name: str
    region: str | None
    traffic: int | None
    started: float | None
    ended: float | None
    checks: int
    passed: int
    failed: int
    no_data: int
    worst: tuple[Worst, ...]
    status: str  # pending | running | done | failed | undone

    @property
    def seconds(self) -> float:
        if self.started is None or self.ended is None:
            return 0.0
        return max(0.0, self.ended - self.started)

    @property
    def shown(self) -> bool:
        """Worth a row in a summary: it moved traffic or watched metrics."""
        return self.traffic is not None or self.checks > 0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "region": self.region,
            "traffic": self.traffic,
            "started": self.started,
            "ended": self.ended,
            "seconds": self.seconds,
            "checks": self.checks,
            "passed": self.passed,
            "failed": self.failed,
            "no_data": self.no_data,
            "worst": [
                {
                    "metric": w.metric,
                    "value": w.value,
                    "limit": {"op": w.limit.op, "value": w.limit.value},
                }
                for w in self.worst
            ],
            "status": self.status,
        }


@dataclass(frozen=True)
class Timeline:
    run_id: str
    project: str
    environment: str
    source: str
    status: str
    started: float | None
    ended: float | None
    stages: tuple[StageSummary, ...]
    checks: tuple[CheckPoint, ...]
    traffic: tuple[TrafficPoint, ...]
    undone: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]  # (step id, error)
    rollback_reason: str | None = None
    final: Mapping[str, int] = field(default_factory=dict)  # region ("" if none) -> traffic

    @property
    def seconds(self) -> float:
        if self.started is None or self.ended is None:
            return 0.0
        return max(0.0, self.ended - self.started)

    @property
    def metrics(self) -> tuple[str, ...]:
        """Every gated metric, in the order first checked."""
        seen: dict[str, None] = {}
        for check in self.checks:
            for name in check.limits:
                seen.setdefault(name, None)
        return tuple(seen)

    def final_text(self) -> str:
        if not self.final:
            return "no traffic moved"
        if set(self.final) == {""}:
            return f"{self.final['']}%"
        return ", ".join(f"{region or 'global'} {pct}%" for region, pct in self.final.items())

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "project": self.project,
            "environment": self.environment,
            "source": self.source,
            "status": self.status,
            "started": self.started,
            "ended": self.ended,
            "seconds": self.seconds,
            "final_traffic": dict(self.final),
            "undone": list(self.undone),
            "failed": [{"step": s, "error": e} for s, e in self.failed],
            "rollback_reason": self.rollback_reason,
            "stages": [s.to_json() for s in self.stages],
            "traffic": [
                {"at": p.at, "region": p.region, "traffic": p.traffic} for p in self.traffic
            ],
            "checks": [
                {
                    "at": c.at,
                    "step": c.step_id,
                    "stage": c.stage,
                    "number": c.number,
                    "status": c.status,
                    "values": dict(c.values),
                    "limits": {
                        m: {"op": lim.op, "value": lim.value} for m, lim in c.limits.items()
                    },
                }
                for c in self.checks
            ],
        }


@dataclass
class _Stage:
    region: str | None
    traffic: int | None = None
    started: float | None = None
    ended: float | None = None
    checks: int = 0
    passed: int = 0
    failed: int = 0
    no_data: int = 0
    worst: dict[str, Worst] = field(default_factory=dict)
    status: str = "pending"


def build(plan: Plan, records: Iterable[Record], run: RunInfo | None = None) -> Timeline:
    """Fold ``records`` (one run's, in order) over ``plan``."""
    stages: dict[str, _Stage] = {}
    stage_name = {step.id: stage_of(step) for step in plan.steps}
    members: dict[str, list[str]] = {}
    for step in plan.steps:
        members.setdefault(stage_name[step.id], []).append(step.id)
        st = stages.setdefault(stage_name[step.id], _Stage(step.region))
        if step.traffic is not None:
            st.traffic = max(st.traffic or 0, step.traffic)
    checks: list[CheckPoint] = []
    traffic: list[TrafficPoint] = []
    current: dict[str, int] = {}
    undone: list[str] = []
    failed: list[tuple[str, str]] = []
    started = ended = None
    status = run.status if run is not None else api.RUNNING
    reason = None
    limits: dict[str, dict[str, Limit]] = {}
    done: set[str] = set()
    for rec in records:
        started = rec.at if started is None else started
        ended = rec.at
        if rec.type == api.RUN_FINISHED:
            status = str(rec.data.get("status") or status)
        elif rec.type == api.ROLLBACK_STARTED:
            reason = str(rec.data.get("reason") or "")
        owner = plan.by_id.get(rec.step_id or "")
        if owner is None:
            continue
        stage = stages[stage_name[owner.id]]
        if rec.type not in _BACKWARD:  # a stage's time is its forward work
            stage.started = rec.at if stage.started is None else stage.started
            stage.ended = rec.at
        if stage.status == "pending":
            stage.status = "running"
        region = owner.region or ""
        if rec.type == api.DONE:
            done.add(owner.id)
        if rec.type == api.DONE and owner.traffic is not None:
            if current.get(region) != owner.traffic:
                current[region] = owner.traffic
                traffic.append(TrafficPoint(rec.at, owner.region, owner.traffic))
        elif rec.type == api.UNDONE:
            undone.append(owner.id)
            stage.status = "undone"
            if owner.traffic is not None and current.get(region):
                current[region] = 0
                traffic.append(TrafficPoint(rec.at, owner.region, 0))
        elif rec.type == api.FAILED:
            failed.append((owner.id, str(rec.data.get("error") or "failed")))
            stage.status = "failed"
        elif rec.type == api.CHECK:
            if owner.id not in limits:
                limits[owner.id] = limits_for(owner)
            _check(stage, rec, owner, limits[owner.id], checks, stage_name[owner.id])
    for name, st in stages.items():
        if st.status == "running" and all(sid in done for sid in members[name]):
            st.status = "done"
    return Timeline(
        run_id=run.run_id if run is not None else "",
        project=plan.project,
        environment=plan.environment,
        source=plan.source,
        status=status,
        started=run.created if run is not None else started,
        ended=ended,
        stages=tuple(
            StageSummary(
                name,
                st.region,
                st.traffic,
                st.started,
                st.ended,
                st.checks,
                st.passed,
                st.failed,
                st.no_data,
                tuple(st.worst.values()),
                st.status,
            )
            for name, st in stages.items()
        ),
        checks=tuple(checks),
        traffic=tuple(traffic),
        undone=tuple(undone),
        failed=tuple(failed),
        rollback_reason=reason,
        final=dict(current),
    )


def _check(
    stage: _Stage,
    rec: Record,
    step: Step,
    limits: Mapping[str, Limit],
    out: list[CheckPoint],
    name: str,
) -> None:
    status = str(rec.data.get("status") or "")
    raw = rec.data.get("values") or {}
    values: dict[str, float | None] = {
        str(k): (float(v) if isinstance(v, int | float) else None) for k, v in raw.items()
    }
    stage.checks += 1
    stage.passed += status == Verdict.PASS
    stage.failed += status == Verdict.FAIL
    stage.no_data += status == Verdict.NO_DATA
    for metric, limit in limits.items():
        value = values.get(metric)
        if value is None:
            continue
        old = stage.worst.get(metric)
        if old is None or limit.worse(old.value, value) != old.value:
            stage.worst[metric] = Worst(metric, value, limit)
    number = rec.data.get("number")
    out.append(
        CheckPoint(
            rec.at,
            step.id,
            name,
            int(number) if isinstance(number, int) else 0,
            status,
            values,
            dict(limits),
        )
    )
