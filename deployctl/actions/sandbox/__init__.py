"""``deployctl apply PLAN --sandbox``: the real executor and the real built-in
actions against an embedded AWS (in-process moto), so a plan can be watched
end to end on a laptop with no account.

- :mod:`.seed` creates what the plan's steps reference (functions with
  version 1 and their alias, the code objects, load balancers with blue
  live, weighted records, distributions, databases, flags).
- :mod:`.layer` sits between the executor and the actions: it swaps plan ids
  for moto's (:mod:`.ids`), binds synthetic metrics to each gate, injects
  ``--sandbox-fault`` failures, and stubs what would leave the machine
  (HTTP smoke tests, local programs).
- :mod:`.faults` is the fault grammar and the synthetic metrics source.
- The clock is :class:`~deployctl.core.clock.ScaledClock`: waits really
  happen, ``speed`` times shorter.

Every sandbox starts from empty moto state and ends with the process, so a
sandbox run cannot be resumed by another process.  moto is an optional
dependency (``deployctl[sandbox]``) and is imported only here, when used.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from deployctl.actions.common import CheckAction
from deployctl.actions.registry import Backend, default_registry
from deployctl.core.clock import ScaledClock
from deployctl.core.kinds import StepKind
from deployctl.core.plan import Plan, Step
from deployctl.core.ports import Clock, Registry
from deployctl.errors import UserError
from deployctl.state.lease import SendGuard

if TYPE_CHECKING:
    from deployctl.actions.aws import Clients
    from deployctl.actions.sandbox.ids import IdMap

INSTALL = "python -m pip install 'deployctl[sandbox]'"
DEFAULT_SPEED = 1200.0  # an hour of plan time in three real seconds
# Seeding an ALB needs subnets, not moto's two thousand sample AMIs (a second a run).
MOTO_ENV = {"MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}
FAKE_KEYS = {"aws_access_key_id": "sandbox", "aws_secret_access_key": "sandbox"}


@dataclass(frozen=True)
class Sandbox:
    backend: Backend
    seeded: tuple[str, ...]  # what was created, for the opening lines
    final_state: Callable[[], list[str]]  # where traffic is now, one line per switch
    clients: Clients  # the embedded AWS, for a look at the world (tests)
    ids: IdMap  # plan ids <-> the embedded AWS's ids


def _registry(clients: Clients) -> Registry:
    from deployctl.actions import flagstore, rds  # noqa: PLC0415
    from deployctl.actions.builtin import register_aws  # noqa: PLC0415

    registry = default_registry(plugins=False)
    register_aws(registry, clients)
    # flag.set and rds.snapshot, until the built-ins register them too.
    for kind, module in ((StepKind.FLAG_SET, flagstore), (StepKind.RDS_SNAPSHOT, rds)):
        if kind not in registry:
            module.register(registry, clients)
    return registry


def metric_gates(plan: Plan, registry: Registry) -> list[Step]:
    """Steps that read metrics: gates that are not smoke checks."""
    out = []
    for step in plan.steps:
        if step.kind in registry:
            action = registry.get(step.kind)
            if action.gate and not isinstance(action, CheckAction):
                out.append(step)
    return out


@functools.cache
def _loader() -> Any:
    """One botocore model loader per process: a second sandbox in the same
    process (the tests) does not parse the service models again."""
    from botocore.loaders import create_loader  # noqa: PLC0415

    return create_loader()


def _session(region: str) -> Any:
    import boto3  # noqa: PLC0415
    import botocore.session  # noqa: PLC0415

    core = botocore.session.Session()
    core.register_component("data_loader", _loader())
    # Explicit fake keys: the credential chain (profiles, instance metadata) is never asked.
    return boto3.Session(botocore_session=core, region_name=region, **FAKE_KEYS)


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _default_region(plan: Plan) -> str:
    return next((s.region for s in plan.steps if s.region), "us-east-1")


@contextlib.contextmanager
def sandbox(plan: Plan, faults: Sequence[str], speed: float = DEFAULT_SPEED) -> Iterator[Sandbox]:
    """Start the embedded AWS, seed it for ``plan``, and yield the backend to run it on."""
    try:
        from moto import mock_aws  # noqa: PLC0415 - optional
    except ImportError:
        raise UserError(f"--sandbox needs moto, which is not installed: {INSTALL}") from None
    from deployctl.actions.aws import Clients  # noqa: PLC0415

    if speed <= 0:
        raise UserError(f"--sandbox-speed {speed:g}: must be a positive number")
    region = _default_region(plan)
    # Docker-less Lambda: invokes answer from a queue the layer fills.
    with _environ(MOTO_ENV), mock_aws(config={"lambda": {"use_docker": False}}):
        clients = Clients(session=_session(region), region=region, guard=SendGuard())
        yield prepare(plan, faults, clients, ScaledClock(speed))


@dataclass(frozen=True)
class Seeded:
    """What seeding an embedded AWS for a plan made: the id map and the
    resources created (the seeder's keys)."""

    ids: IdMap
    done: frozenset[tuple[str, ...]]

    def copy(self) -> Seeded:
        """For a world put back as seeded: a run adds ids to its own map."""
        return Seeded(self.ids.copy(), self.done)


def seed_world(plan: Plan, clients: Clients) -> Seeded:
    """Create in the embedded AWS what ``plan`` expects to find there."""
    from deployctl.actions.sandbox.ids import IdMap  # noqa: PLC0415
    from deployctl.actions.sandbox.seed import Seeder  # noqa: PLC0415

    seeder = Seeder(clients, IdMap(), plan)
    seeder.seed()
    return Seeded(seeder.ids, frozenset(seeder.done))


def prepare(
    plan: Plan,
    faults: Sequence[str],
    clients: Clients,
    clock: Clock,
    seeded: Seeded | None = None,
) -> Sandbox:
    """Seed an embedded AWS that is already running (``mock_aws``) for ``plan``
    and build the backend on it: the sandbox without its own start and stop,
    so tests can run many plans on one embedded AWS, reset between them.
    Given ``seeded``, the world is already as :func:`seed_world` left it (a test
    put back a copy) and is not seeded again."""
    from deployctl.actions.sandbox.faults import SandboxMetrics, parse_faults  # noqa: PLC0415
    from deployctl.actions.sandbox.layer import Layer, wrap  # noqa: PLC0415
    from deployctl.actions.sandbox.state import final_state  # noqa: PLC0415

    region = _default_region(plan)
    registry = _registry(clients)
    parsed = parse_faults(faults, plan, metric_gates(plan, registry))
    if seeded is None:
        seeded = seed_world(plan, clients)
    ids, done = seeded.ids, set(seeded.done)
    metrics = SandboxMetrics(parsed)
    layer = Layer(ids, parsed, metrics)
    if clients.guard is None:  # the lease check before each mutating call
        clients.guard = SendGuard()
    backend = Backend(wrap(registry, layer, region), clock, metrics, guard=clients.guard)
    return Sandbox(
        backend,
        _describe(done),
        lambda: final_state(clients, ids, done),
        clients,
        ids,
    )


def _describe(done: set[tuple[str, ...]]) -> tuple[str, ...]:
    names = {  # seeder key -> (one, many)
        "lambda": ("function", "functions"),
        "alias": ("alias", "aliases"),
        "object": ("code object", "code objects"),
        "listener": ("ALB listener", "ALB listeners"),
        "tg": ("target group", "target groups"),
        "rule": ("listener rule", "listener rules"),
        "ecs-cluster": ("ECS cluster", "ECS clusters"),
        "service": ("ECS service", "ECS services"),
        "zone": ("hosted zone", "hosted zones"),
        "records": ("weighted record pair", "weighted record pairs"),
        "distribution": ("CloudFront distribution", "CloudFront distributions"),
        "instance": ("RDS instance", "RDS instances"),
        "cluster": ("RDS cluster", "RDS clusters"),
        "flag": ("SSM flag", "SSM flags"),
        "secret": ("SSM SecureString", "SSM SecureStrings"),
    }
    counts = Counter(key[0] for key in done if key[0] in names)
    return tuple(f"{counts[k]} {names[k][counts[k] > 1]}" for k in names if counts[k])
