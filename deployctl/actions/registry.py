"""Build the registry and pick the backend a command runs against.

Plugins: a distribution declares an entry point in the ``deployctl.actions``
group pointing at a ``register(registry)`` function; built-ins use the same
function shape.

Backends: ``DEPLOYCTL_ACTIONS`` selects what ``apply`` talks to.  Unset means
the built-in actions (AWS, in later issues) with the real clock.
``fake:/path/world.json`` selects the persistent fake world
(:mod:`deployctl.actions.fake`) and a virtual clock; the test suite runs
real ``python -m deployctl`` subprocesses against it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.metadata import entry_points

from deployctl.actions import analysis
from deployctl.actions.api import Registry
from deployctl.errors import UserError
from deployctl.execute.api import Clock, MetricsSource, Reporter
from deployctl.execute.clock import RealClock

BUILTINS = (analysis.register,)
ENV = "DEPLOYCTL_ACTIONS"


@dataclass(frozen=True)
class Backend:
    registry: Registry
    clock: Clock
    metrics: MetricsSource | None = None
    reporters: tuple[Reporter, ...] = ()  # observers the backend adds (test hooks)


def default_registry(*, plugins: bool = True) -> Registry:
    registry = Registry()
    for register in BUILTINS:
        register(registry)
    if plugins:
        for entry in entry_points(group="deployctl.actions"):
            entry.load()(registry)
    return registry


def load_backend(spec: str | None = None) -> Backend:
    """The backend named by ``spec`` (default: ``$DEPLOYCTL_ACTIONS``)."""
    spec = os.environ.get(ENV) if spec is None else spec
    if not spec:
        return Backend(default_registry(), RealClock())
    name, _, arg = spec.partition(":")
    if name == "fake" and arg:
        from deployctl.actions.fake import fake_backend  # noqa: PLC0415 - fake imports us

        return fake_backend(arg)
    raise UserError(f"{ENV}={spec!r}: expected 'fake:/path/to/world.json' or nothing")
