"""The compiled plan: frozen steps in a DAG.  This is the planner's whole output
and the executor's whole input.

A :class:`Step` names an action ``kind`` (``lambda.shift``, ``gate.analysis``...)
and carries JSON-able ``params`` for it.  String params may hold ``${...}``
runtime references, resolved by the executor from earlier steps' ``outputs``.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from deployctl.manifest.model import MetricDef, Notify
from deployctl.plan.analysis import Summary, summarize

if TYPE_CHECKING:
    import networkx as nx


@dataclass(frozen=True)
class Step:
    id: str  # stable, readable: "us-east-1/canary/stage-2/shift"
    kind: str  # action kind, looked up in the action registry
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
            "kind": self.kind,
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


@dataclass(frozen=True)
class Publish:
    """Deployment metrics the executor publishes when a run ends (``monitoring:``)."""

    namespace: str
    metrics: tuple[str, ...]  # of DeploymentSuccess, RollbackCount, DeploymentDuration


@dataclass(frozen=True)
class Plan:
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


def metric_json(metric: MetricDef) -> dict[str, Any]:
    def query(q: Any) -> dict[str, Any] | None:
        if q is None:
            return None
        return {
            "namespace": q.namespace,
            "metric": q.metric,
            "stat": q.stat,
            "dimensions": dict(q.dimensions),
            "period": q.period,
        }

    return {
        "query": query(metric.query),
        "numerator": query(metric.numerator),
        "denominator": query(metric.denominator),
        "unit": metric.unit,
        "scale": metric.scale,
    }
