"""The compiled plan: frozen steps in a DAG.  This is the planner's whole output
and the executor's whole input, and it round-trips through JSON (a run stores
it, ``resume RUN_ID`` rebuilds it).

A :class:`Step` names an action ``kind`` (``lambda.shift``, ``gate.analysis``...;
:class:`~deployctl.core.kinds.StepKind`) and carries JSON-able ``params`` for
it.  String params may hold ``${...}`` runtime references, resolved by the
executor from earlier steps' ``outputs``.

The metric definitions and the notification targets travel with the plan, so
they live here too (the manifest layer builds them).  See docs/architecture.md.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import field
from typing import TYPE_CHECKING, Any

from deployctl.core.frozen import Frozen, frozen
from deployctl.core.kinds import StepKind

if TYPE_CHECKING:
    import networkx as nx

Pairs = tuple[tuple[str, str], ...]

NOTIFY_EVENTS = ("started", "waiting", "rollback", "succeeded", "failed")


@frozen
class Webhook(Frozen):
    """A URL given in the plan (a secret: redacted everywhere) or the name of
    an environment variable read when sending (never stored)."""

    url: str | None = None
    url_env: str | None = None
    events: tuple[str, ...] = NOTIFY_EVENTS


@frozen
class Notify(Frozen):
    """``notify:``: who hears about a run, and of which events."""

    events: tuple[str, ...] = NOTIFY_EVENTS
    sns: tuple[str, ...] = ()
    webhooks: tuple[Webhook, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "on": list(self.events),
            "sns": list(self.sns),
            "webhooks": [
                {"url": w.url, "url_env": w.url_env, "on": list(w.events)} for w in self.webhooks
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Notify:
        return cls(
            tuple(data.get("on") or NOTIFY_EVENTS),
            tuple(data.get("sns") or ()),
            tuple(
                Webhook(w.get("url"), w.get("url_env"), tuple(w.get("on") or NOTIFY_EVENTS))
                for w in data.get("webhooks") or ()
            ),
        )


@frozen
class MetricQuery(Frozen):
    """One CloudWatch metric read: namespace, name, statistic, dimensions, period."""

    namespace: str
    metric: str
    stat: str
    dimensions: Pairs = ()
    period: int = 60

    def to_json(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "metric": self.metric,
            "stat": self.stat,
            "dimensions": dict(self.dimensions),
            "period": self.period,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> MetricQuery | None:
        if data is None:
            return None
        return cls(
            namespace=data["namespace"],
            metric=data["metric"],
            stat=data["stat"],
            dimensions=tuple((str(k), str(v)) for k, v in data["dimensions"].items()),
            period=int(data["period"]),
        )


@frozen
class MetricDef(Frozen):
    """A metric gates and triggers name: one query, or a numerator over a denominator."""

    name: str
    query: MetricQuery | None = None
    numerator: MetricQuery | None = None
    denominator: MetricQuery | None = None
    unit: str | None = None  # "ms", "s", "%" or None; thresholds use the same unit
    scale: float = 1.0  # multiply raw values by this (e.g. seconds -> ms)


def metric_json(metric: MetricDef) -> dict[str, Any]:
    def query(q: MetricQuery | None) -> dict[str, Any] | None:
        return None if q is None else q.to_json()

    return {
        "query": query(metric.query),
        "numerator": query(metric.numerator),
        "denominator": query(metric.denominator),
        "unit": metric.unit,
        "scale": metric.scale,
    }


def metric_from_json(name: str, data: dict[str, Any]) -> MetricDef:
    return MetricDef(
        name=name,
        query=MetricQuery.from_json(data["query"]),
        numerator=MetricQuery.from_json(data["numerator"]),
        denominator=MetricQuery.from_json(data["denominator"]),
        unit=data["unit"],
        scale=float(data["scale"]),
    )


@frozen
class Step(Frozen):
    """One node of the plan's DAG: what it does (``kind``, ``params``), what
    it waits for (``deps``), and whether and how a rollback undoes it."""

    id: str  # stable, readable: "us-east-1/canary/stage-2/shift"
    kind: str  # action kind, looked up in the action registry (StepKind, or a plugin's)
    description: str  # one line for people: "alias live: ${new_version} at 25%"
    params: Mapping[str, Any] = field(default_factory=dict)  # JSON-able; treat as read-only
    deps: tuple[str, ...] = ()
    region: str | None = None
    tags: tuple[
        str, ...
    ] = ()  # what approvals can name: "switch-traffic", "stage:2", "region:eu-west-1"
    traffic: int | None = None  # percent on the new version once this step is done
    wait: float = 0.0  # least seconds this step takes (stage duration, bake)
    mutating: bool = True  # changes the world: journaled as intent -> done
    reversible: bool = True  # rollback can pass over it (undoing it if ``undo`` is set)
    undo: str | None = None  # what the compensation does; None: nothing to undo
    one_way: bool = False  # rollback stops here (a one-way door)
    outputs: tuple[str, ...] = ()  # names this step's apply returns, e.g. new_version

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": str(self.kind),
            "description": self.description,
            "region": self.region,
            "deps": list(self.deps),
            "tags": list(self.tags),
            "traffic": self.traffic,
            "wait_seconds": self.wait,
            "mutating": self.mutating,
            "reversible": self.reversible,
            "undo": self.undo,
            "one_way": self.one_way,
            "outputs": list(self.outputs),
            "params": dict(self.params),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Step:
        return cls(
            id=data["id"],
            kind=data["kind"],
            description=data["description"],
            params=data["params"],
            deps=tuple(data["deps"]),
            region=data["region"],
            tags=tuple(data["tags"]),
            traffic=data["traffic"],
            wait=float(data["wait_seconds"]),
            mutating=data["mutating"],
            reversible=data["reversible"],
            undo=data["undo"],
            one_way=data["one_way"],
            outputs=tuple(data["outputs"]),
        )


@frozen
class Publish(Frozen):
    """Deployment metrics the executor publishes when a run ends (``monitoring:``)."""

    namespace: str
    metrics: tuple[str, ...]  # of DeploymentSuccess, RollbackCount, DeploymentDuration

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Publish | None:
        if data is None:
            return None
        return cls(str(data["namespace"]), tuple(str(m) for m in data["publish"]))


@frozen
class Summary(Frozen):
    """Facts about a compiled plan for reviewers: wall time, approvals, one-way doors."""

    steps: int
    critical_path: tuple[str, ...]
    min_wall_seconds: float
    approvals: tuple[str, ...]
    one_way_doors: tuple[str, ...]
    # The first one-way door: rollback can undo what came before it, never it.
    # None means automatic rollback can undo every step.
    rollback_horizon: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "min_wall_seconds": self.min_wall_seconds,
            "critical_path": list(self.critical_path),
            "approvals": list(self.approvals),
            "one_way_doors": list(self.one_way_doors),
            "rollback_horizon": self.rollback_horizon,
        }


@frozen
class Plan(Frozen):
    """A compiled plan: its steps in run order, and what a run needs besides them."""

    kind: str
    project: str
    environment: str
    source: str  # plan file path, as given
    steps: tuple[Step, ...]  # topological, ties in manifest order
    metrics: Mapping[str, MetricDef] = field(default_factory=dict)
    strategy: str | None = None
    rollback_automatic: bool = True  # roll back on a failure or a tripped trigger
    rollback_scope: str = "wave"  # wave: only the failing region wave; all: every wave
    publish: Publish | None = None  # from monitoring:; None publishes nothing
    notify: Notify | None = None  # from notify:; None tells no one
    secret_values: frozenset[str] = field(default=frozenset(), compare=False, repr=False)
    # Every (project, environment) the plan deploys, when a file holds several
    # projects: a run locks each (sorted).  Empty means (project, environment).
    scopes: tuple[tuple[str, str], ...] = ()

    @property
    def lock_scopes(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(set(self.scopes))) or ((self.project, self.environment),)

    @functools.cached_property
    def by_id(self) -> dict[str, Step]:
        return {s.id: s for s in self.steps}

    @functools.cached_property
    def graph(self) -> nx.DiGraph:
        import networkx as nx  # noqa: PLC0415 - 0.15 s to import; validate never needs it

        graph = nx.DiGraph()
        for step in self.steps:
            graph.add_node(step.id)
            for dep in step.deps:
                graph.add_edge(dep, step.id)
        return graph

    @functools.cached_property
    def summary(self) -> Summary:
        return summarize(self)

    @functools.cached_property
    def digest(self) -> str:
        """sha256 of everything that decides what the run does; binds a journal to a plan."""
        import hashlib  # noqa: PLC0415 - ~5 ms (OpenSSL); `validate` shows no digest

        body = json.dumps(self.to_json(with_summary=False), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()

    def to_json(self, *, with_summary: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "project": self.project,
            "environment": self.environment,
            "strategy": self.strategy,
            "rollback": {"automatic": self.rollback_automatic, "scope": self.rollback_scope},
            "metrics": {name: metric_json(m) for name, m in sorted(self.metrics.items())},
            "steps": [s.to_json() for s in self.steps],
        }
        if self.publish is not None:
            out["monitoring"] = {
                "namespace": self.publish.namespace,
                "publish": list(self.publish.metrics),
            }
        if self.notify is not None:
            out["notify"] = self.notify.to_json()
        if self.scopes:  # absent for one project, so those plans keep their digest
            out["scopes"] = [list(scope) for scope in self.scopes]
        if with_summary:
            out["summary"] = self.summary.to_json()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str) -> Plan:
        """The plan :meth:`to_json` wrote (a ``summary`` is ignored: it is derived)."""
        rollback = data.get("rollback", {})
        return cls(
            kind=data["kind"],
            project=data["project"],
            environment=data["environment"],
            source=source,
            steps=tuple(Step.from_json(s) for s in data["steps"]),
            metrics={
                name: metric_from_json(name, m) for name, m in data.get("metrics", {}).items()
            },
            strategy=data.get("strategy"),
            rollback_automatic=rollback.get("automatic", True),
            rollback_scope=rollback.get("scope", "wave"),
            publish=Publish.from_json(data.get("monitoring")),
            notify=Notify.from_json(data["notify"]) if data.get("notify") else None,
            scopes=tuple((str(p), str(e)) for p, e in data.get("scopes", ())),
        )


def summarize(plan: Plan) -> Summary:
    # Longest path by wait time; plan.steps is already topological.
    finish: dict[str, float] = {}
    via: dict[str, str | None] = {}
    for step in plan.steps:
        parent = max(step.deps, key=finish.__getitem__, default=None)
        finish[step.id] = (finish[parent] if parent else 0.0) + step.wait
        via[step.id] = parent
    # On ties prefer the later step, so the path runs to the real end of the plan.
    end = max(reversed(finish), key=finish.__getitem__, default=None)
    path: list[str] = []
    while end is not None:
        path.append(end)
        end = via[end]
    doors = tuple(s.id for s in plan.steps if s.one_way)
    return Summary(
        steps=len(plan.steps),
        critical_path=tuple(reversed(path)),
        min_wall_seconds=max(finish.values(), default=0.0),
        approvals=tuple(s.id for s in plan.steps if s.kind == StepKind.APPROVAL),
        one_way_doors=doors,
        rollback_horizon=doors[0] if doors else None,
    )
