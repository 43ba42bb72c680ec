"""One typed params class per built-in step kind: what the planner writes into
:attr:`Step.params <deployctl.core.plan.Step.params>` and what the action reads
back, so the two agree by type (mypy checks both ends).

``SomeParams(...).to_params()`` is the JSON-able dict a step carries: key order,
and which keys are left out when unset, are part of the plan's digest, so they
follow the field order and the field's ``metadata``:

- ``key``: the params key when it is not the field name (``from``);
- ``omit``: ``"none"`` leaves the key out when the value is ``None``,
  ``"empty"`` when it is empty (plans without it keep their digest);
- ``nested``: a field (or a tuple of them) held as a nested params record;
- ``flat``: a nested record whose keys sit in the params themselves (a
  target's identity, which every step that touches the target carries); a
  later field of the same key replaces its value in place, as ``dict | dict``;
- ``raw``: a value passed through as given (a Lambda payload).

``SomeParams.from_params(params)`` reads them back: keys it does not know are
ignored, a missing key takes the field's default (older plans lack keys added
since), and a missing required key is a :class:`ParamsError`.  Values are not
converted: a field the planner fills with a ``${...}`` reference is a ``str``
in the plan, and after the executor resolves it holds whatever the step it
names returned.  Lists come back as tuples, mappings as given.

Plugins' kinds have no class here; their params stay plain mappings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, field, fields
from typing import Any, ClassVar, Protocol, Self

from deployctl.core.frozen import Frozen, frozen
from deployctl.core.kinds import StepKind

OMIT_NONE: Mapping[str, Any] = {"omit": "none"}
OMIT_EMPTY: Mapping[str, Any] = {"omit": "empty"}
RAW: Mapping[str, Any] = {"raw": True}


def named(key: str) -> Mapping[str, Any]:
    return {"key": key}


def nested(cls: type[Record]) -> Mapping[str, Any]:
    return {"nested": cls}


def flat(cls: type[Record]) -> Mapping[str, Any]:
    return {"nested": cls, "flat": True}


class ParamsError(ValueError):
    """A step's params lack a key its kind needs."""

    def __init__(self, where: str, key: str) -> None:
        super().__init__(f"{where} params have no {key!r} (a plan from another deployctl version?)")
        self.where = where
        self.key = key


# (attribute, key, nested, flat, raw, required), per class, computed once.
_Spec = tuple[str, str, "type[Record] | None", bool, bool, bool]
_SPECS: dict[type, tuple[_Spec, ...]] = {}
_WRITERS: dict[type, Callable[[Record], dict[str, Any]]] = {}


def _specs(cls: type[Record]) -> tuple[_Spec, ...]:
    found = _SPECS.get(cls)
    if found is None:
        found = _SPECS[cls] = tuple(
            (
                f.name,
                f.metadata.get("key", f.name),
                f.metadata.get("nested"),
                bool(f.metadata.get("flat")),
                bool(f.metadata.get("raw")),
                f.default is MISSING and f.default_factory is MISSING,
            )
            for f in fields(cls)
        )
    return found


def _writer(cls: type[Record]) -> Callable[[Record], dict[str, Any]]:
    """``cls``'s ``to_params``, written out field by field as ``dataclasses``
    writes ``__init__``: a loop over the fields that inspects each value cost a
    10,000-step plan half of its compile time (bench/plan_scale.py)."""
    found = _WRITERS.get(cls)
    if found is not None:
        return found
    lines = ["def to_params(self):", "    out = {}"]
    for f in fields(cls):
        meta, get = f.metadata, f"self.{f.name}"
        if meta.get("flat"):
            lines.append(f"    out |= {get}.to_params()")
            continue
        if meta.get("raw"):
            value = "v"
        elif meta.get("nested"):
            many = str(f.type).startswith("tuple")
            value = "[e.to_params() for e in v]" if many else "v.to_params()"
        elif str(f.type).startswith("tuple"):
            value = "list(v)"
        elif str(f.type).startswith("Mapping"):
            value = "dict(v)"
        else:
            value = "v"
        test = {"none": "v is not None", "empty": "v"}.get(meta.get("omit", ""))
        lines.append(f"    v = {get}")
        put = f"out[{meta.get('key', f.name)!r}] = {value}"
        lines.append(f"    if {test}: {put}" if test else f"    {put}")
    lines.append("    return out")
    scope: dict[str, Any] = {}
    exec("\n".join(lines), {}, scope)  # noqa: S102 - our own field names and keys
    writer: Callable[[Record], dict[str, Any]] = scope["to_params"]
    _WRITERS[cls] = writer
    return writer


def _in(value: Any, cls: type[Record] | None) -> Any:
    if cls is not None and isinstance(value, Mapping):
        return cls.from_params(value)
    if isinstance(value, list | tuple):
        return tuple(_in(v, cls) for v in value)
    return value


@frozen(kw_only=True)
class Record(Frozen):
    """A params dict as a frozen dataclass (see the module's docstring)."""

    def to_params(self) -> dict[str, Any]:
        return _writer(type(self))(self)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Self:
        kwargs: dict[str, Any] = {}
        for name, key, inner, is_flat, raw, required in _specs(cls):
            try:
                if is_flat and inner is not None:
                    kwargs[name] = inner.from_params(params)
                elif key in params:
                    value = params[key]
                    kwargs[name] = value if raw else _in(value, inner)
                elif required:
                    raise ParamsError(cls._where(), key)
            except ParamsError as exc:
                if exc.where == cls._where():
                    raise
                # Name the step kind, and where the key sits in its params.
                raise ParamsError(
                    cls._where(), exc.key if is_flat else f"{key}.{exc.key}"
                ) from None
        return cls(**kwargs)

    @classmethod
    def _where(cls) -> str:
        return cls.__name__


@frozen(kw_only=True)
class StepParams(Record):
    """The params of one step kind: ``KIND``."""

    KIND: ClassVar[StepKind]

    @classmethod
    def _where(cls) -> str:
        return f"{cls.KIND} step"


# --- approval -------------------------------------------------------------------------


@frozen(kw_only=True)
class ApprovalParams(StepParams):
    """The params of a ``approval`` step."""

    KIND = StepKind.APPROVAL
    reason: str = ""


# --- traffic targets: the target's identity (a ``flat`` record: its keys come
# first, at the top level), then what the step does -------------------------------


@frozen(kw_only=True)
class LambdaAlias(Record):
    """A Lambda function and the alias its traffic goes through."""

    function: str
    alias: str


@frozen(kw_only=True)
class LambdaPublishParams(StepParams):
    """The params of a ``lambda.publish`` step."""

    KIND = StepKind.LAMBDA_PUBLISH
    target: LambdaAlias = field(metadata=flat(LambdaAlias))
    # With new code, Lambda refuses to publish if $LATEST changed under us.
    code_sha256: str | None = field(default=None, metadata=OMIT_NONE)


@frozen(kw_only=True)
class LambdaShiftParams(StepParams):
    """The params of a ``lambda.shift`` step."""

    KIND = StepKind.LAMBDA_SHIFT
    target: LambdaAlias = field(metadata=flat(LambdaAlias))
    new_version: str
    stable_version: str
    weight: int
    # Chains each shift onto the revision the last one left ("" in older plans).
    alias_revision: str = ""


@frozen(kw_only=True)
class LambdaCleanupParams(StepParams):
    """The params of a ``lambda.cleanup_versions`` step."""

    KIND = StepKind.LAMBDA_CLEANUP_VERSIONS
    target: LambdaAlias = field(metadata=flat(LambdaAlias))
    keep: int = 0


@frozen(kw_only=True)
class LambdaCode(Record):
    """Where a function's new code comes from (an S3 object, or an image)."""

    s3_bucket: str | None = field(default=None, metadata=OMIT_NONE)
    s3_key: str | None = field(default=None, metadata=OMIT_NONE)
    s3_object_version: str | None = field(default=None, metadata=OMIT_NONE)
    zip_file: str | None = field(default=None, metadata=OMIT_NONE)
    image_uri: str | None = field(default=None, metadata=OMIT_NONE)


@frozen(kw_only=True)
class LambdaUpdateCodeParams(StepParams):
    """The params of a ``lambda.update_code`` step."""

    KIND = StepKind.LAMBDA_UPDATE_CODE
    function: str
    code: LambdaCode = field(default=LambdaCode(), metadata=nested(LambdaCode))


@frozen(kw_only=True)
class LambdaInvokeParams(StepParams):
    """The params of a ``lambda.invoke`` step."""

    KIND = StepKind.LAMBDA_INVOKE
    function: str
    payload: Any = field(default=None, metadata=RAW)
    timeout: float = 3600.0


@frozen(kw_only=True)
class AlbListener(Record):
    """What an ``alb.*`` step needs of the listener (or rule) and its target groups."""

    listener_arn: str
    blue_target_group: str
    green_target_group: str
    rule_arn: str | None = field(default=None, metadata=OMIT_NONE)
    # Healthy targets the receiving side needs before traffic moves, and how
    # long to wait for them (actions/target_health.py).
    min_healthy: int = 1
    health_timeout: float = 300.0
    drain: float | None = field(default=None, metadata=OMIT_NONE)  # None: deregistration delay


@frozen(kw_only=True)
class AlbDiscoverParams(StepParams):
    """The params of a ``alb.discover`` step."""

    KIND = StepKind.ALB_DISCOVER
    target: AlbListener = field(metadata=flat(AlbListener))


@frozen(kw_only=True)
class AlbShiftParams(StepParams):
    """The params of a ``alb.shift`` step."""

    KIND = StepKind.ALB_SHIFT
    target: AlbListener = field(metadata=flat(AlbListener))
    to: str  # blue | green, usually "${idle_color}"
    weight: int


@frozen(kw_only=True)
class AlbDrainParams(StepParams):
    """The params of a ``alb.drain`` step."""

    KIND = StepKind.ALB_DRAIN
    target: AlbListener = field(metadata=flat(AlbListener))
    from_: str = field(metadata=named("from"))
    # Always written: where the listener's identity holds it, it stays there.
    drain: float | None = None
    interval: float = 60.0


@frozen(kw_only=True)
class EcsService(Record):
    """What every ECS step needs: the cluster, one service (task sets) or two
    (``services: {blue, green}``), and the listener in front of them."""

    cluster: str
    service: str | None = field(default=None, metadata=OMIT_NONE)
    services: Mapping[str, str] | None = field(default=None, metadata=OMIT_NONE)
    listener: AlbListener = field(metadata=flat(AlbListener))
    # None (older plans): botocore's services_stable waiter's own limit.
    stable_timeout: float | None = field(default=None, metadata=OMIT_NONE)


@frozen(kw_only=True)
class EcsDiscoverParams(StepParams):
    """The params of a ``ecs.discover`` step."""

    KIND = StepKind.ECS_DISCOVER
    target: EcsService = field(metadata=flat(EcsService))


@frozen(kw_only=True)
class EcsUpdateServiceParams(StepParams):
    """The params of a ``ecs.update_service`` step."""

    KIND = StepKind.ECS_UPDATE_SERVICE
    target: EcsService = field(metadata=flat(EcsService))
    to: str
    task_definition: str


@frozen(kw_only=True)
class EcsCreateTaskSetParams(StepParams):
    """The params of a ``ecs.create_task_set`` step."""

    KIND = StepKind.ECS_CREATE_TASK_SET
    target: EcsService = field(metadata=flat(EcsService))
    to: str
    task_definition: str
    stable_task_set: str | None = None


@frozen(kw_only=True)
class EcsDeleteTaskSetParams(StepParams):
    """The params of a ``ecs.delete_task_set`` step."""

    KIND = StepKind.ECS_DELETE_TASK_SET
    target: EcsService = field(metadata=flat(EcsService))
    task_set: str
    keep: str | None = None
    from_: str = field(metadata=named("from"))


@frozen(kw_only=True)
class EcsSetPrimaryParams(StepParams):
    """The params of a ``ecs.set_primary`` step."""

    KIND = StepKind.ECS_SET_PRIMARY
    cluster: str
    service: str
    task_set: str
    previous: str | None = None


@frozen(kw_only=True)
class EcsRegisterParams(StepParams):
    """The params of a ``ecs.register`` step."""

    KIND = StepKind.ECS_REGISTER
    cluster: str
    base: str = ""  # the live task definition, "${live_task_definition}"
    file: str | None = field(default=None, metadata=OMIT_NONE)
    image: str | None = field(default=None, metadata=OMIT_NONE)
    container: str | None = field(default=None, metadata=OMIT_NONE)
    serving_container: str | None = field(default=None, metadata=OMIT_NONE)


@frozen(kw_only=True)
class Route53Side(Record):
    """One side of a Route 53 weighted record: its set identifier and value."""

    set_identifier: str
    value: str
    health_check_id: str | None = field(default=None, metadata=OMIT_NONE)


@frozen(kw_only=True)
class Route53Record(Record):
    """A Route 53 weighted record with a blue and a green side."""

    hosted_zone_id: str
    record_name: str
    record_type: str
    ttl: int = 60
    blue: Route53Side = field(metadata=nested(Route53Side))
    green: Route53Side = field(metadata=nested(Route53Side))
    # Only when a side has a health check: how long it may take to pass.
    health_timeout: float | None = field(default=None, metadata=OMIT_NONE)


@frozen(kw_only=True)
class Route53DiscoverParams(StepParams):
    """The params of a ``route53.discover`` step."""

    KIND = StepKind.ROUTE53_DISCOVER
    target: Route53Record = field(metadata=flat(Route53Record))


@frozen(kw_only=True)
class Route53ShiftParams(StepParams):
    """The params of a ``route53.shift`` step."""

    KIND = StepKind.ROUTE53_SHIFT
    target: Route53Record = field(metadata=flat(Route53Record))
    to: str
    weight: int


@frozen(kw_only=True)
class Route53RoutingParams(StepParams):
    """Region routing records after every wave (plan/regions.py)."""

    KIND = StepKind.ROUTE53_ROUTING
    hosted_zone_id: str
    record_name: str
    record_type: str = "CNAME"
    ttl: int = 60
    policy: str
    records: Mapping[str, str]  # region -> record value
    failover: Mapping[str, str] = field(default_factory=dict)  # region -> PRIMARY
    # {"active": [...], "standby": region, "active_name": name}: layered failover
    layout: Mapping[str, Any] | None = field(default=None, metadata=OMIT_NONE)
    # region -> {"id": existing} or {"create": {"type", "port", "path"}}
    health_checks: Mapping[str, Any] | None = field(default=None, metadata=OMIT_NONE)
    health_timeout: float | None = field(default=None, metadata=OMIT_NONE)


@frozen(kw_only=True)
class CloudFrontDistribution(Record):
    """A CloudFront distribution and its blue and green origins."""

    distribution_id: str
    blue_origin: str
    green_origin: str


@frozen(kw_only=True)
class CloudFrontDiscoverParams(StepParams):
    """The params of a ``cloudfront.discover`` step."""

    KIND = StepKind.CLOUDFRONT_DISCOVER
    target: CloudFrontDistribution = field(metadata=flat(CloudFrontDistribution))


@frozen(kw_only=True)
class CloudFrontShiftParams(StepParams):
    """The params of a ``cloudfront.shift`` step."""

    KIND = StepKind.CLOUDFRONT_SHIFT
    target: CloudFrontDistribution = field(metadata=flat(CloudFrontDistribution))
    to: str
    weight: int


@frozen(kw_only=True)
class CloudFormationDeployParams(StepParams):
    """A stack update.  As the traffic step of a CloudFormation target it also
    carries the stack's own rollback triggers (absent as a ``deploy:`` step)."""

    KIND = StepKind.CLOUDFORMATION_DEPLOY
    stack: str
    template: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    capabilities: tuple[str, ...] = ()
    rollback_triggers: tuple[str, ...] | None = field(default=None, metadata=OMIT_NONE)
    # {"name", "trigger", "op", "threshold", "metric"}: one CloudWatch alarm each
    rollback_alarms: tuple[Mapping[str, Any], ...] | None = field(default=None, metadata=OMIT_NONE)
    monitoring_minutes: int | None = field(default=None, metadata=OMIT_NONE)


# --- checks, gates and the rest ---------------------------------------------------


@frozen(kw_only=True)
class Trigger(Record):
    """A rollback trigger, ``ErrorRate>1%``, as a gate checks it."""

    metric: str
    op: str
    value: float
    unit: str | None = None
    text: str = ""


# What no data means at a gate (docs/manifest.md, ``analysis.missing_data``).
MISSING_DATA = ("fail", "inconclusive", "ignore")


class GateTiming(Protocol):
    """What the executor's gate loop (:mod:`deployctl.execute.gates`) reads of
    a gate step's params, whatever its kind: how long and how often to check,
    how many failed checks it tolerates, and what no data means.  ``None``: the
    step's ``wait`` (``duration``), once per ``duration`` (``interval``)."""

    @property
    def duration(self) -> float | None: ...

    @property
    def interval(self) -> float | None: ...

    @property
    def failure_limit(self) -> int: ...

    @property
    def missing_data(self) -> str: ...


@frozen(kw_only=True)
class CheckTiming(Record):
    """:class:`GateTiming` of a gate kind with no timing of its own: a smoke
    test (one check, over the step's ``wait``), ``alb.drain`` (its window is
    live, its ``interval`` a key of its params) and plugins' gates, which may
    carry any of these keys.  A failed check fails it; so does no data."""

    duration: float | None = None
    interval: float | None = None
    failure_limit: int = 0
    missing_data: str = "fail"


@frozen(kw_only=True)
class GateAnalysisParams(StepParams):
    """The params of a ``gate.analysis`` step."""

    KIND = StepKind.GATE_ANALYSIS
    duration: float
    interval: float = 60.0
    metric: str | None = None  # the analysis metric, when a threshold gates it
    threshold: float | None = None
    failure_limit: int = 0
    # The planner always writes the manifest's choice (its default is
    # "inconclusive"); only a hand-made plan lacks the key, and no data must
    # not pass a gate because a key is missing: fail-closed.
    missing_data: str = "fail"
    triggers: tuple[Trigger, ...] = field(default=(), metadata=nested(Trigger))
    metrics: tuple[str, ...] = ()  # every metric the gate reads
    alarms: tuple[str, ...] = field(default=(), metadata=OMIT_EMPTY)  # existing alarms


@frozen(kw_only=True)
class SmokeHttpParams(StepParams):
    """The params of a ``smoke.http`` step."""

    KIND = StepKind.SMOKE_HTTP
    url: str
    expect_status: int = 200
    body_contains: str | None = None
    timeout: float = 10.0
    retries: int = 0
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict, metadata=OMIT_EMPTY)


@frozen(kw_only=True)
class SmokeLambdaParams(StepParams):
    """The params of a ``smoke.lambda`` step."""

    KIND = StepKind.SMOKE_LAMBDA
    function: str
    qualifier: str | None = None
    payload: Any = field(default=None, metadata=RAW)
    expect: Any = field(default=None, metadata=RAW)


@frozen(kw_only=True)
class CommandRunParams(StepParams):
    """The params of a ``command.run`` step."""

    KIND = StepKind.COMMAND_RUN
    argv: tuple[str, ...]
    timeout: float = 3600.0
    cwd: str = "."  # the plan file's folder: paths in argv are relative to it
    env: Mapping[str, str] = field(default_factory=dict, metadata=OMIT_EMPTY)


@frozen(kw_only=True)
class RdsSnapshotParams(StepParams):
    """One of ``instance`` and ``cluster``."""

    KIND = StepKind.RDS_SNAPSHOT
    instance: str | None = field(default=None, metadata=OMIT_NONE)
    cluster: str | None = field(default=None, metadata=OMIT_NONE)


@frozen(kw_only=True)
class Alarm(Record):
    """One CloudWatch alarm a step puts."""

    name: str
    metric: str
    threshold: float
    action: str = "alert"  # alert | page | warn
    period: float = 300.0


@frozen(kw_only=True)
class CloudWatchAlarmsParams(StepParams):
    """The params of a ``cloudwatch.alarms`` step."""

    KIND = StepKind.CLOUDWATCH_ALARMS
    namespace: str = "Deployctl"
    alarms: tuple[Alarm, ...] = field(default=(), metadata=nested(Alarm))
    dimensions: Mapping[str, str] = field(default_factory=dict)  # run-end metrics'
    # action -> SNS topic ARN, set as each alarm's AlarmActions
    actions: Mapping[str, str] = field(default_factory=dict, metadata=OMIT_EMPTY)


@frozen(kw_only=True)
class FlagStore(Record):
    """``ssm`` (``path``) or ``appconfig`` (``application``, ``environment``,
    ``profile``, ``deployment_strategy``)."""

    kind: str
    path: str | None = field(default=None, metadata=OMIT_NONE)
    application: str | None = field(default=None, metadata=OMIT_NONE)
    environment: str | None = field(default=None, metadata=OMIT_NONE)
    profile: str | None = field(default=None, metadata=OMIT_NONE)
    deployment_strategy: str | None = field(default=None, metadata=OMIT_NONE)


@frozen(kw_only=True)
class FlagValue(Record):
    """A feature flag's value: on or off, a percentage, an allowlist."""

    enabled: bool
    percentage: int
    allowlist: tuple[str, ...] = ()


@frozen(kw_only=True)
class FlagSetParams(StepParams):
    """The params of a ``flag.set`` step."""

    KIND = StepKind.FLAG_SET
    store: FlagStore = field(metadata=nested(FlagStore))
    flag: str
    value: FlagValue = field(metadata=nested(FlagValue))


# Gate kinds whose params hold their own timing; any other gate: CheckTiming.
# mypy checks that each class has GateTiming's fields, with its types.
_TIMING: dict[str, Callable[[Mapping[str, Any]], GateTiming]] = {
    StepKind.GATE_ANALYSIS: GateAnalysisParams.from_params,
}


def gate_timing(kind: str, params: Mapping[str, Any]) -> GateTiming:
    """The :class:`GateTiming` of a gate step of ``kind`` from its (resolved) params."""
    return _TIMING.get(kind, CheckTiming.from_params)(params)


def missing_policy(timing: GateTiming) -> str:
    """``timing.missing_data``, one of :data:`MISSING_DATA`: a value that is
    none of them (a typo in a hand-made plan) is ``fail``, never a pass.
    Both engines read it here (execute/gates.py, stepfunctions/asl.py)."""
    policy = timing.missing_data
    return policy if policy in MISSING_DATA else "fail"


PARAMS: dict[StepKind, type[StepParams]] = {
    cls.KIND: cls
    for cls in (
        ApprovalParams,
        AlbDiscoverParams,
        AlbDrainParams,
        AlbShiftParams,
        CloudFormationDeployParams,
        CloudFrontDiscoverParams,
        CloudFrontShiftParams,
        CloudWatchAlarmsParams,
        CommandRunParams,
        EcsCreateTaskSetParams,
        EcsDeleteTaskSetParams,
        EcsDiscoverParams,
        EcsRegisterParams,
        EcsSetPrimaryParams,
        EcsUpdateServiceParams,
        FlagSetParams,
        GateAnalysisParams,
        LambdaCleanupParams,
        LambdaInvokeParams,
        LambdaPublishParams,
        LambdaShiftParams,
        LambdaUpdateCodeParams,
        RdsSnapshotParams,
        Route53DiscoverParams,
        Route53RoutingParams,
        Route53ShiftParams,
        SmokeHttpParams,
        SmokeLambdaParams,
    )
}
