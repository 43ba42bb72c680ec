"""``flag.set``: write one feature flag to its store, and put it back on undo.

The stores live in ``flagstores/``, one module per kind behind one interface
(:class:`~deployctl.actions.flagstores.api.FlagBackend`): SSM keeps one JSON
String parameter per flag, AppConfig all flags of a profile in one hosted
document.  The step's ``store.kind`` picks the store.

``apply`` returns the previous value (or ``None`` when the flag did not exist)
so ``undo`` restores exactly what was there, deleting a parameter it created.
Every write carries the step's idempotency token in its description, so after
a crash between the write and the journal's done record ``observe`` can tell
our write from someone else's and still find the value that came before it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from deployctl.actions.flagstores import BACKENDS, ClientFactory, FlagBackend
from deployctl.actions.flagstores.api import canonical
from deployctl.core.kinds import StepKind
from deployctl.core.params import FlagSetParams
from deployctl.core.plan import Step
from deployctl.core.ports import (
    Action,
    Observation,
    Preview,
    Read,
    Registry,
    ResourceState,
    StepRequest,
)
from deployctl.errors import DeployctlError


class FlagSet(Action):
    """One action for every store; the store kind is in ``params.store.kind``."""

    def __init__(self, clients: ClientFactory) -> None:
        self.stores = {kind: backend(clients) for kind, backend in BACKENDS.items()}

    def _store(self, p: FlagSetParams) -> FlagBackend:
        try:
            return self.stores[p.store.kind]
        except KeyError:
            known = ", ".join(sorted(self.stores))
            raise DeployctlError(f"unknown flag store {p.store.kind!r} (known: {known})") from None

    # --- the plan diff: one resource per flag, read in batches --------------------------

    def resources(self, step: Step, params: Mapping[str, Any]) -> tuple[str, ...]:
        p = FlagSetParams.from_params(params)
        return (self._store(p).key(step.region, p),)

    def batch(self, step: Step, params: Mapping[str, Any], key: str) -> str | None:
        return self._store(FlagSetParams.from_params(params)).batch(step.region, key)

    def describe(self, step: Step, params: Mapping[str, Any], key: str) -> ResourceState:
        return self.describe_many([Read(key, step, params)])[key]

    def describe_many(self, reads: Sequence[Read]) -> Mapping[str, ResourceState]:
        return self._store(FlagSetParams.from_params(reads[0].params)).describe(reads)

    def preview(self, step: Step, params: Mapping[str, Any], states: Mapping[str, Any]) -> Preview:
        p = FlagSetParams.from_params(params)
        key = self._store(p).key(step.region, p)
        wanted = p.value.to_params()
        same = states[key] is not None and canonical(states[key]) == canonical(wanted)
        return Preview(canonical(wanted), not same, {} if same else {key: wanted})

    # --- the interface ---------------------------------------------------------------

    def observe(self, request: StepRequest) -> Observation:
        p = FlagSetParams.from_params(request.params)
        store = self._store(p)
        current = store.read(request, p)
        wanted = p.value.to_params()
        if current is None or canonical(current) != canonical(wanted):
            shown = canonical(current) if current is not None else "absent"
            return Observation(False, {}, f"flag is {shown}")
        ours, before = store.written_by(request, p)
        if ours:
            return Observation(True, {"previous": before, "value": wanted}, "this step wrote it")
        # Already right before we ran: nothing of ours to undo.
        return Observation(
            True, {"previous": current, "value": wanted}, "flag already had the value"
        )

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        p = FlagSetParams.from_params(request.params)
        store = self._store(p)
        previous = store.read(request, p)
        wanted = p.value.to_params()
        if previous is None or canonical(previous) != canonical(wanted):
            store.write(request, p, wanted)
        return {"previous": previous, "value": wanted}

    def undo(self, request: StepRequest, outputs: Mapping[str, Any]) -> None:
        p = FlagSetParams.from_params(request.params)
        store = self._store(p)
        previous = outputs.get("previous")
        current = store.read(request, p)
        if canonical(current) != canonical(previous):
            store.write(request, p, previous)


def register(registry: Registry, clients: ClientFactory) -> None:
    registry.register(StepKind.FLAG_SET, FlagSet(clients))
