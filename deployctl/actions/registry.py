"""Build the registry and pick the backend a command runs against.

Plugins: a distribution declares an entry point in the ``deployctl.actions``
group pointing at a ``register(registry)`` function; built-ins use the same
function shape.

Backends: what ``apply`` talks to.  :func:`load_backend` gives the built-in
AWS actions, CloudWatch metrics for gates and the real clock; the sandbox
builds its own (:mod:`deployctl.actions.sandbox`), and so does the test
harness (:mod:`deployctl.testing`), in the process it runs the CLI in.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points

from deployctl.actions import analysis
from deployctl.core.clock import RealClock
from deployctl.core.ports import Clock, MetricsSource, Registry, Reporter, RunObserver, Sender
from deployctl.state.lease import SendGuard

BUILTINS = (analysis.register,)


@dataclass(frozen=True)
class Backend:
    registry: Registry
    clock: Clock
    metrics: MetricsSource | None = None
    reporters: tuple[Reporter, ...] = ()  # observers the backend adds (test hooks)
    observers: tuple[RunObserver, ...] = ()  # told when a run ends (deployment metrics)
    # Checked before every mutating call; the executor arms it with its lease.
    guard: SendGuard = field(default_factory=SendGuard)
    # Sends the plan's SNS notifications (notify:; the commands wrap it in a
    # deployctl.notify.Notifier); None: this backend sends none (the sandbox,
    # the test harness).
    sns: Sender | None = None


@functools.cache
def plugin_entry_points() -> tuple[EntryPoint, ...]:
    """The ``deployctl.actions`` plugins installed: found once per process
    (the scan reads every installed package's metadata, ~20 ms)."""
    return tuple(entry_points(group="deployctl.actions"))


def default_registry(*, plugins: bool = True) -> Registry:
    registry = Registry()
    for register in BUILTINS:
        register(registry)
    if plugins:
        for entry in plugin_entry_points():
            entry.load()(registry)
    return registry


def load_backend(
    *,
    profile: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
) -> Backend:
    """The built-in AWS actions, CloudWatch metrics and the real clock.

    The AWS backend is imported only here, so commands that never touch AWS
    (validate, status, runs) never import boto3.
    """
    from deployctl.actions.aws import Clients  # noqa: PLC0415 - boto3 only when used
    from deployctl.actions.builtin import register_aws  # noqa: PLC0415
    from deployctl.actions.cloudwatch import (  # noqa: PLC0415
        CloudWatchMetrics,
        DeploymentMetrics,
    )
    from deployctl.actions.sns import SnsSender  # noqa: PLC0415

    guard = SendGuard()
    clients = Clients(profile=profile, region=region, endpoint_url=endpoint_url, guard=guard)
    registry = default_registry()
    register_aws(registry, clients)

    return Backend(
        registry,
        RealClock(),
        CloudWatchMetrics(clients),
        observers=(DeploymentMetrics(clients),),
        guard=guard,
        sns=SnsSender(clients),
    )
