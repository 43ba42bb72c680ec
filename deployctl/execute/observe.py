"""Read the live state a plan touches and predict what each step would do.

The actions do the reading (``Action.describe``) and the predicting
(``Action.preview``); this module only orchestrates: it names every resource
the steps touch, reads each one once, in parallel on a bounded pool (across
regions; keys an action batches, such as SSM parameters, in one call),
and walks the steps in plan order so each step previews from the
state the steps before it would leave.

Keys may depend on earlier steps' outputs (a stack named after the idle
colour that ``alb.discover`` finds), so reading goes in rounds: a round reads
every key that can be named, then previews the steps it can, whose predicted
outputs may name more keys for the next round.  A step whose resources stay
unnamable (``${new_version}`` of a version not yet published) is reported as
not observed, never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from deployctl.core.plan import Plan, Step
from deployctl.core.ports import Action, Read, Registry, ResourceState
from deployctl.core.refs import is_unresolved
from deployctl.errors import DeployctlError
from deployctl.execute.refs import Resolver, UnresolvedReference

DEFAULT_READERS = 8


class ObserveError(DeployctlError):
    """A live read failed (permissions, throttling past retries, a bad ARN)."""

    def __init__(self, failures: Mapping[str, str]) -> None:
        self.failures = dict(failures)
        lines = "; ".join(f"{key}: {why}" for key, why in sorted(self.failures.items()))
        super().__init__(f"could not read live state: {lines}")


@dataclass(frozen=True)
class StepPreview:
    step_id: str
    key: str  # the resource the step changes: the first of its action's resources()
    after: str
    changes: bool
    every_run: bool = False  # acts on each run by design (Preview.every_run)
    # the step's params as far as known before the run (plan --change-sets reuses them)
    params: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Observed:
    """Everything ``plan`` needs for a diff.  ``resources`` are the states as
    read (before any step); ``previews`` follow plan order; ``unobserved``
    maps a step id to why its resources could not be read before a run."""

    resources: Mapping[str, ResourceState]
    previews: tuple[StepPreview, ...]
    unobserved: Mapping[str, str]


class _Partial:
    """Resolves what predicted outputs allow and leaves other references as text."""

    def __init__(self, plan: Plan, predicted: Mapping[str, Mapping[str, Any]]) -> None:
        self.resolver = Resolver(plan, predicted.get)

    def __call__(self, step: Step, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return self.resolver.resolve(step, value)
            except UnresolvedReference:
                return value
        if isinstance(value, Mapping):
            return {k: self(step, v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self(step, v) for v in value]
        return value


def _named(keys: tuple[str, ...]) -> bool:
    return all(not is_unresolved(key) for key in keys)


def _tasks(
    jobs: Mapping[str, tuple[Action, Step, Mapping[str, Any]]],
) -> list[tuple[list[str], bool]]:
    """The keys of each read, and whether it is a batch: one key
    (``describe``), or every key of one action's batch (``describe_many``,
    named by ``Action.batch``)."""
    tasks: list[tuple[list[str], bool]] = []
    batches: dict[tuple[int, str], list[str]] = {}
    for key in sorted(jobs):
        action, step, params = jobs[key]
        name = action.batch(step, params, key)
        if name is None:
            tasks.append(([key], False))
        elif (id(action), name) in batches:
            batches[(id(action), name)].append(key)
        else:
            batches[(id(action), name)] = [key]
            tasks.append((batches[(id(action), name)], True))
    return tasks


def read_all(
    jobs: Mapping[str, tuple[Action, Step, Mapping[str, Any]]], readers: int = DEFAULT_READERS
) -> dict[str, ResourceState]:
    """Describe every key once, ``readers`` reads at a time (keys an action
    batches in one ``describe_many``); any failure raises after all finished."""
    if not jobs:
        return {}

    def one(keys: list[str], batched: bool) -> Mapping[str, ResourceState]:
        action, step, params = jobs[keys[0]]
        if not batched:
            return {keys[0]: action.describe(step, params, keys[0])}
        return action.describe_many([Read(k, jobs[k][1], jobs[k][2]) for k in keys])

    tasks = _tasks(jobs)
    found: dict[str, ResourceState] = {}
    failures: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(readers, len(tasks)))) as pool:
        futures = [(keys, pool.submit(one, keys, batched)) for keys, batched in tasks]
        for keys, future in futures:
            try:
                states = future.result()
            except Exception as exc:  # reported together, one line per resource
                failures.update(dict.fromkeys(keys, f"{type(exc).__name__}: {exc}"))
                continue
            for key in keys:
                if key in states:
                    found[key] = states[key]
                else:
                    failures[key] = "the batched read returned no state for it"
    if failures:
        raise ObserveError(failures)
    return found


def observe(plan: Plan, registry: Registry, readers: int = DEFAULT_READERS) -> Observed:
    predicted: dict[str, Mapping[str, Any]] = {}
    read: dict[str, ResourceState] = {}
    current: dict[str, Any] = {}
    previews: dict[str, StepPreview] = {}
    pending = [s for s in plan.steps if s.kind in registry]
    partial = _Partial(plan, predicted)
    while pending:
        jobs: dict[str, tuple[Action, Step, Mapping[str, Any]]] = {}
        for step in pending:
            action = registry.get(step.kind)
            params = partial(step, dict(step.params))
            for key in action.resources(step, params):
                if not is_unresolved(key) and key not in read:
                    jobs.setdefault(key, (action, step, params))
        for key, state in read_all(jobs, readers).items():
            read[key] = state
            current[key] = state.state
        waiting: list[Step] = []
        blocked: set[str] = set()  # keys a deferred step may touch first: later steps wait
        for step in pending:
            action = registry.get(step.kind)
            params = partial(step, dict(step.params))
            keys = action.resources(step, params)
            if not keys:
                continue
            if not _named(keys) or any(k not in read or k in blocked for k in keys):
                waiting.append(step)
                blocked.update(k for k in keys if not is_unresolved(k))
                continue
            seen = action.preview(step, params, {k: current[k] for k in keys})
            current.update(seen.states)
            predicted[step.id] = dict(seen.outputs)
            previews[step.id] = StepPreview(
                step.id, keys[0], seen.after, seen.changes, seen.every_run, params
            )
        if len(waiting) == len(pending):
            break
        pending = waiting
    unobserved = {
        s.id: "its resource is named by an output known only during the run"
        for s in pending
        if s.id not in previews
    }
    ordered = tuple(previews[s.id] for s in plan.steps if s.id in previews)
    return Observed(read, ordered, unobserved)
