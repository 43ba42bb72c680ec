"""Collect steps, wire dependencies, and order them deterministically."""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import replace

from deployctl.core.frozen import Frozen, frozen
from deployctl.errors import CycleError, DeployctlError, UserError
from deployctl.plan.api import Step


class DuplicateStep(DeployctlError):
    """Two parts of a plan produced the same step id; the compiler says where."""

    def __init__(self, step_id: str) -> None:
        super().__init__(f"duplicate step id {step_id!r}")
        self.step_id = step_id


class StepGraph:
    """An ordered bag of steps; ``finish`` checks it and sorts it.

    Insertion order is manifest order, and it breaks ties in the topological
    sort, so the same file always gives the same step list.
    """

    def __init__(self, file: str | None = None) -> None:
        self.file = file
        self.steps: dict[str, Step] = {}
        self._order: list[str] = []  # ids in insertion order, for added_since

    def add(self, step: Step) -> str:
        if step.id in self.steps:
            raise DuplicateStep(step.id)
        self.steps[step.id] = step
        self._order.append(step.id)
        return step.id

    def added_since(self, count: int) -> list[str]:
        """Ids of the steps added after the first ``count`` (``len(steps)`` then):
        the time of what was just added, not of the whole plan so far."""
        return self._order[count:]

    def tag(self, step_ids: Iterable[str], tag: str) -> None:
        for step_id in step_ids:
            step = self.steps[step_id]
            if tag not in step.tags:
                self.steps[step_id] = replace(step, tags=(*step.tags, tag))

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
        """Steps in dependency order, ties broken by insertion order.

        Kahn's algorithm over a heap of insertion ranks: the same order as
        ``nx.lexicographical_topological_sort`` keyed by rank, without building
        a DiGraph first (that was most of compile time for 10,000-step plans).
        networkx is only asked to name a cycle once one is known to exist.
        """
        rank = {sid: n for n, sid in enumerate(self.steps)}
        waiting = dict.fromkeys(self.steps, 0)
        users: dict[str, list[str]] = {sid: [] for sid in self.steps}
        for step in self.steps.values():
            for dep in step.deps:
                if dep not in users:
                    raise UserError(f"internal: step {step.id!r} depends on unknown {dep!r}")
                users[dep].append(step.id)
                waiting[step.id] += 1
        ready = [rank[sid] for sid, count in waiting.items() if count == 0]
        heapq.heapify(ready)
        ids = list(self.steps)
        order: list[Step] = []
        while ready:
            sid = ids[heapq.heappop(ready)]
            order.append(self.steps[sid])
            for user in users[sid]:
                waiting[user] -= 1
                if waiting[user] == 0:
                    heapq.heappush(ready, rank[user])
        if len(order) < len(self.steps):
            import networkx as nx  # noqa: PLC0415 - only to name a cycle

            graph = nx.DiGraph((dep, step.id) for step in self.steps.values() for dep in step.deps)
            cycle = [edge[0] for edge in nx.find_cycle(graph)]
            raise CycleError(cycle, self.file)
        return tuple(order)


@frozen
class Ctx(Frozen):
    """Where a document's steps go."""

    graph: StepGraph
    prefix: str  # "" or "<environment>/" inside a pipeline
    base_dir: str  # plan file folder, for template and zip paths
