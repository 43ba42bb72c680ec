"""Collect steps, wire dependencies, and order them deterministically."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import networkx as nx

from deployctl.errors import CycleError, UserError
from deployctl.plan.api import Step


class StepGraph:
    """An ordered bag of steps; ``finish`` checks it and sorts it.

    Insertion order is manifest order, and it breaks ties in the topological
    sort, so the same file always gives the same step list.
    """

    def __init__(self, file: str | None = None) -> None:
        self.file = file
        self.steps: dict[str, Step] = {}

    def add(self, step: Step) -> str:
        if step.id in self.steps:
            raise UserError(f"internal: duplicate step id {step.id!r}")
        self.steps[step.id] = step
        return step.id

    def add_deps(self, step_id: str, deps: Iterable[str]) -> None:
        step = self.steps[step_id]
        extra = tuple(d for d in deps if d not in step.deps and d != step_id)
        if extra:
            self.steps[step_id] = replace(step, deps=step.deps + extra)

    def roots(self, ids: Iterable[str]) -> list[str]:
        """Of ``ids``, those with no dependency inside ``ids``."""
        group = set(ids)
        return [i for i in self.steps if i in group and not group.intersection(self.steps[i].deps)]

    def leaves(self, ids: Iterable[str]) -> list[str]:
        """Of ``ids``, those nothing else inside ``ids`` depends on."""
        group = [i for i in self.steps if i in set(ids)]
        used = {d for i in group for d in self.steps[i].deps}
        return [i for i in group if i not in used]

    def finish(self) -> tuple[Step, ...]:
        order = {sid: n for n, sid in enumerate(self.steps)}
        graph = nx.DiGraph()
        graph.add_nodes_from(self.steps)
        for step in self.steps.values():
            for dep in step.deps:
                if dep not in self.steps:
                    raise UserError(f"internal: step {step.id!r} depends on unknown {dep!r}")
                graph.add_edge(dep, step.id)
        try:
            ids = list(nx.lexicographical_topological_sort(graph, key=order.__getitem__))
        except nx.NetworkXUnfeasible:
            cycle = [edge[0] for edge in nx.find_cycle(graph)]
            raise CycleError(cycle, self.file) from None
        return tuple(self.steps[i] for i in ids)
