"""``${...}`` runtime references, resolved from earlier steps' outputs.

- ``${region}``: the step's own region.
- ``${steps.<step-id>.<output>}``: one named step's output.
- ``${name}``: output ``name`` of the nearest ancestor that produced it,
  preferring ancestors in the step's own region (a replica's shift must use
  the version published in that replica, not the primary's).

A string that is exactly one reference takes the output's value as is (a
number stays a number); references inside longer strings are formatted in.

``${ssm:/path}`` is a secret and is left as written by :class:`Resolver`: the
params a step journals, and every description, keep the reference text.
:class:`SecretRefs` fills it in only in the request handed to the action
(``RunContext.request``), reading the parameter through the backend's
secret source, and tells the context the value so every redactor hides it.
Only the references the step's params hold in the plan are read: text that
looks like one but came from an output (a tag, an API answer: anyone's data)
is passed on as text, so no value from outside can make the run read a
parameter the plan did not ask for.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from deployctl.core.plan import Plan, Step
from deployctl.core.ports import Registry
from deployctl.core.refs import REF, is_unresolved
from deployctl.errors import DeployctlError
from deployctl.manifest.secrets import secret_ref, secret_refs_in

Outputs = Callable[[str], "Mapping[str, Any] | None"]


class UnresolvedReference(DeployctlError):
    def __init__(self, step_id: str, ref: str, why: str) -> None:
        self.step_id = step_id
        self.ref = ref
        super().__init__(f"step {step_id}: cannot resolve ${{{ref}}}: {why}")


class Resolver:
    """Resolves references for steps of ``plan``; ``outputs(step_id)`` gives a
    finished step's outputs (``None`` if it has not finished)."""

    def __init__(self, plan: Plan, outputs: Outputs) -> None:
        self.plan = plan
        self.outputs = outputs
        self.index = {s.id: n for n, s in enumerate(plan.steps)}

    def resolve(self, step: Step, value: Any) -> Any:
        if isinstance(value, str):
            return self._string(step, value)
        if type(value) is dict or isinstance(value, Mapping):  # (a dict skips the ABC check)
            return {k: self.resolve(step, v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.resolve(step, v) for v in value]
        return value

    def _string(self, step: Step, text: str) -> Any:
        if not is_unresolved(text):
            return text
        whole = REF.fullmatch(text)
        if whole:
            return self._one(step, whole)
        return REF.sub(lambda m: str(self._one(step, m)), text)

    def _one(self, step: Step, match: re.Match[str]) -> Any:
        ref = match.group(1).strip()
        if secret_ref(ref) is not None:
            return match.group(0)  # a secret: only the action's request gets its value
        return self.lookup(step, ref)

    def lookup(self, step: Step, ref: str) -> Any:
        if ref == "region":
            if step.region is None:
                raise UnresolvedReference(step.id, ref, "the step has no region")
            return step.region
        if ref.startswith("steps."):
            step_id, _, name = ref[len("steps.") :].rpartition(".")
            if step_id not in self.plan.by_id:
                raise UnresolvedReference(step.id, ref, f"no step {step_id!r}")
            found = self.outputs(step_id)
            if found is None or name not in found:
                raise UnresolvedReference(step.id, ref, f"step {step_id} has no output {name!r}")
            return found[name]
        return self._nearest(step, ref)

    def _nearest(self, step: Step, name: str) -> Any:
        # Breadth-first over dependencies gives distance order; plan order
        # breaks ties so the choice is deterministic.
        best_other: tuple[int, int, Any] | None = None
        seen = {step.id}
        queue = deque((dep, 1) for dep in step.deps)
        seen.update(step.deps)
        while queue:
            sid, distance = queue.popleft()
            ancestor = self.plan.by_id[sid]
            found = self.outputs(sid)
            if found is not None and name in found:
                if ancestor.region == step.region:
                    return found[name]
                rank = (distance, -self.index[sid], found[name])
                if best_other is None or rank[:2] < best_other[:2]:
                    best_other = rank
            for dep in ancestor.deps:
                if dep not in seen:
                    seen.add(dep)
                    queue.append((dep, distance + 1))
        if best_other is not None:
            return best_other[2]
        raise UnresolvedReference(step.id, name, f"no ancestor step has an output {name!r}")


_NONE: frozenset[tuple[str, str]] = frozenset()


class SecretRefs:
    """The second pass: ``${ssm:/path}`` -> the parameter's value, for the
    action's request only, and only for the references the step's params
    hold in ``plan`` (:meth:`reads`).

    Each (scheme, name, region) is read once per run (the steps of a run see
    one value) through the registry's secret source; ``learn(value)`` runs
    before the value is handed out, so whoever redacts knows it first.
    """

    def __init__(self, plan: Plan, registry: Registry, learn: Callable[[str], None]) -> None:
        self.registry = registry
        self.learn = learn
        self._values: dict[tuple[str, str, str | None], str] = {}
        self._lock = threading.Lock()
        # Found before the walk, not while a worker builds a step's request.
        self._reads = {s.id: secret_refs_in(s.params) for s in plan.steps}

    def reads(self, step_id: str) -> frozenset[tuple[str, str]]:
        """The secrets step ``step_id`` of the plan reads: building its
        request may wait on AWS for them.  Known before the step runs."""
        return self._reads.get(step_id, _NONE)

    def resolve(self, step: Step, value: Any) -> Any:
        """``value`` (``step``'s resolved params) with the secrets its plan
        step reads filled in; as it is if it reads none."""
        wanted = self.reads(step.id)
        return self._fill(step, value, wanted) if wanted else value

    def _fill(self, step: Step, value: Any, wanted: frozenset[tuple[str, str]]) -> Any:
        if isinstance(value, str):
            if not is_unresolved(value):
                return value
            return REF.sub(lambda m: self._one(step, m, wanted), value)
        if isinstance(value, Mapping):
            return {k: self._fill(step, v, wanted) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._fill(step, v, wanted) for v in value]
        return value

    def _one(self, step: Step, match: re.Match[str], wanted: frozenset[tuple[str, str]]) -> str:
        found = secret_ref(match.group(1))
        if found is None or found not in wanted:  # not a secret, or not the plan's
            return match.group(0)
        scheme, name = found
        key = (scheme, name, step.region)
        with self._lock:
            known = self._values.get(key)
        if known is not None:
            return known
        source = self.registry.secret_source(scheme)
        if source is None:
            raise UnresolvedReference(
                step.id, match.group(1).strip(), f"this backend cannot read {scheme} parameters"
            )
        try:
            value = str(source.read(name, step.region))
        except Exception as exc:  # the source names the parameter, never a value
            raise UnresolvedReference(step.id, match.group(1).strip(), str(exc)) from exc
        self.learn(value)
        with self._lock:
            self._values[key] = value
        return value
