"""The frozen manifest model: what a plan file means, after checks.

Built in one place (:mod:`deployctl.manifest.build`).  Durations are seconds
(``None`` for ``stable``), percentages are ints 0..100, thresholds are in the
metric's own unit (fractions for ratios).  ``Source`` lets later stages (the
planner) still point at ``file:line:col``.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

from deployctl.core.frozen import Frozen, frozen
from deployctl.core.plan import NOTIFY_EVENTS as NOTIFY_EVENTS  # noqa: PLC0414 - re-exported
from deployctl.core.plan import MetricDef as MetricDef  # noqa: PLC0414 - re-exported
from deployctl.core.plan import MetricQuery as MetricQuery  # noqa: PLC0414 - re-exported
from deployctl.core.plan import Notify as Notify  # noqa: PLC0414 - re-exported
from deployctl.core.plan import Pairs as Pairs  # noqa: PLC0414 - re-exported
from deployctl.core.plan import Webhook as Webhook  # noqa: PLC0414 - re-exported
from deployctl.diagnostics import Diagnostic, Marks, Path
from deployctl.manifest.triggers import Trigger


@frozen
class Source(Frozen):
    """Where a document was written: its file, its index in the file, its marks."""

    file: str
    document: int
    marks: Marks = field(compare=False, repr=False)

    def diag(self, path: Path, message: str) -> Diagnostic:
        return self.marks.diag(path, message)


@frozen
class Header(Frozen):
    """What every document has: kind, project, environment, region, vars, notify."""

    api_version: str
    kind: str
    project: str
    environment: str
    description: str | None
    region: str
    profile: str | None
    assume_role: str | None
    vars: tuple[tuple[str, Any], ...]
    secret_vars: tuple[str, ...]
    source: Source
    notify: Notify | None = None
    env_secrets: tuple[str, ...] = ()  # env() values not listed under public_env
    # Each ${steps.<id>.<output>} written in the document: (text, path, offset),
    # so the planner can point at one that names no earlier step.
    step_refs: tuple[tuple[str, Path, int], ...] = ()
    # after: projects of the same file whose documents run first, with where each is written.
    after: tuple[tuple[str, Path], ...] = ()


# --- targets -----------------------------------------------------------------


@frozen
class LambdaCode(Frozen):
    """Where a Lambda function's new code is: S3, a zip file or an image."""

    s3_bucket: str | None = None
    s3_key: str | None = None
    s3_object_version: str | None = None
    zip_file: str | None = None
    image_uri: str | None = None


@frozen
class LambdaTarget(Frozen):
    """A Lambda alias whose weights move to the new version."""

    function: str
    alias: str
    code: LambdaCode | None = None
    keep_versions: int | None = None  # post-deploy clean-up of old versions


@frozen
class AlbTarget(Frozen):
    """An ALB listener (or rule) whose weights move between two target groups."""

    listener_arn: str
    blue_target_group: str
    green_target_group: str
    rule_arn: str | None = None
    min_healthy: int = 1  # healthy targets the receiving side needs before traffic moves
    health_timeout: float = 300.0  # seconds to wait for them
    drain: float | None = None  # seconds; None: the target group's deregistration delay


@frozen
class Route53Side(Frozen):
    """One side of a Route 53 weighted pair: its set identifier and value."""

    set_identifier: str
    value: str
    health_check_id: str | None = None  # must pass before traffic moves onto this side


@frozen
class Route53Target(Frozen):
    """A Route 53 record whose weights move from one side to the other."""

    hosted_zone_id: str
    record_name: str
    record_type: str
    ttl: int
    blue: Route53Side
    green: Route53Side
    health_timeout: float = 300.0


@frozen
class CloudFrontTarget(Frozen):
    """A CloudFront distribution whose traffic moves between two origins."""

    distribution_id: str
    blue_origin: str
    green_origin: str


@frozen
class CloudFormationTarget(Frozen):
    """A CloudFormation stack updated with a template and its parameters."""

    stack: str
    template: str
    parameters: Pairs = ()
    capabilities: tuple[str, ...] = ()


@frozen
class EcsTarget(Frozen):
    """ECS services behind an ALB listener's two target groups.

    Two shapes: ``service`` names one service with the EXTERNAL deployment
    controller (the new version is a task set on the idle target group);
    ``blue_service`` and ``green_service`` name one service per colour (the
    idle colour's service gets the new task definition).  Either way the
    listener's weights move between ``listener``'s two target groups.
    """

    cluster: str
    listener: AlbTarget  # the listener (or rule), its two target groups, health and drain
    service: str | None = None
    blue_service: str | None = None
    green_service: str | None = None
    stable_timeout: float = 600.0  # seconds the new tasks may take to reach a steady state

    @property
    def task_sets(self) -> bool:
        return self.service is not None


Target = (
    LambdaTarget | AlbTarget | Route53Target | CloudFrontTarget | CloudFormationTarget | EcsTarget
)

TARGET_NAMES: dict[type, str] = {
    LambdaTarget: "lambda",
    AlbTarget: "alb",
    Route53Target: "route53",
    CloudFrontTarget: "cloudfront",
    CloudFormationTarget: "cloudformation",
    EcsTarget: "ecs",
}


@frozen
class EcsDeploy(Frozen):
    """The task definition an ECS target deploys: a file (RegisterTaskDefinition
    input, relative to the plan), the live one, or either with ``image`` on
    ``container``."""

    task_definition: str | None = None
    image: str | None = None
    container: str | None = None


@frozen
class Deploy(Frozen):
    """How the new version reaches the idle side before traffic moves."""

    cloudformation: CloudFormationTarget | None = None
    lambda_function: str | None = None
    lambda_code: LambdaCode | None = None
    command: tuple[str, ...] = ()
    ecs: EcsDeploy | None = None


# --- strategy, metrics, rollback ----------------------------------------------


@frozen
class Stage(Frozen):
    """One step of a strategy: how much traffic, for how long, against what threshold."""

    traffic: int
    duration: float | None  # seconds; None = stable (stay, no further wait)
    metric_threshold: float | None = None
    alarms: tuple[str, ...] = ()  # existing CloudWatch alarms this stage's gate watches


@frozen
class Strategy(Frozen):
    """How traffic moves: the type, its stages and how often gates are checked."""

    type: str  # canary | linear | blue-green | all-at-once
    stages: tuple[Stage, ...]
    interval: float
    preset: str | None = None


@frozen
class Analysis(Frozen):
    """How a gate judges a stage from its metric."""

    metric: str = "ErrorRate"
    failure_limit: int = 0
    missing_data: str = "inconclusive"  # fail | inconclusive | ignore


@frozen
class Rollback(Frozen):
    """When to roll back (triggers, alarms) and how far."""

    triggers: tuple[Trigger, ...] = ()
    automatic: bool = True
    monitoring_time: float | None = None
    scope: str = "wave"  # wave: roll back the failing region wave; all: every wave
    alarms: tuple[str, ...] = ()  # existing CloudWatch alarms every gate watches


# --- tests, approvals ----------------------------------------------------------


@frozen
class HttpCheck(Frozen):
    """A smoke test's HTTP request and what its answer must be."""

    url: str
    expect_status: int = 200
    body_contains: str | None = None
    timeout: float = 5.0
    retries: int = 0
    method: str = "GET"
    headers: Pairs = ()  # name -> value, in file order


@frozen
class LambdaInvoke(Frozen):
    """A smoke test's Lambda invocation and what it must return."""

    function: str
    qualifier: str | None = None
    payload: Any = None
    expect: Any = None


@frozen
class SmokeTest(Frozen):
    """A named smoke test: an HTTP check or a Lambda invocation."""

    name: str
    http: HttpCheck | None = None
    invoke: LambdaInvoke | None = None


@frozen
class Approval(Frozen):
    """A manual approval, before the named stage."""

    before: str
    index: int  # position in the manifest, for diagnostics


# --- regions ---------------------------------------------------------------------


@frozen
class Replica(Frozen):
    """A region that runs a copy, and how it takes traffic."""

    region: str
    replication_type: str  # active-active | active-passive
    latency_threshold: float | None = None  # milliseconds
    failover_priority: int | None = None


@frozen
class HealthCheckSpec(Frozen):
    """Route 53 health checks of the routing records: named, or created."""

    ids: Pairs = ()  # region -> existing health check id
    type: str = "HTTPS"  # of created checks: HTTP | HTTPS | TCP
    port: int | None = None  # None: 443 for HTTPS, 80 for HTTP
    path: str = "/"
    timeout: float = 300.0  # seconds a check may take to pass


@frozen
class Routing(Frozen):
    """The Route 53 records that send users to the regions."""

    hosted_zone_id: str
    record_name: str
    policy: str  # geolocation | latency | failover
    record_type: str = "CNAME"
    ttl: int = 60
    values: Pairs = ()  # region -> record value (may use ${region})
    value: str | None = None  # one value for every region, with ${region}
    health_check: HealthCheckSpec | None = None


@frozen
class Regions(Frozen):
    """The primary region, its replicas and the routing between them."""

    primary: str
    replicas: tuple[Replica, ...] = ()
    routing: Routing | None = None


# --- flags ----------------------------------------------------------------------


@frozen
class FlagStage(Frozen):
    """One step of a flag's rollout."""

    percentage: int
    duration: float | None
    metric_threshold: float | None = None


@frozen
class Flag(Frozen):
    """A feature flag: its state, percentage, allowlist and rollout."""

    name: str
    enabled: bool = True
    percentage: int = 100
    allowlist: tuple[str, ...] = ()
    rollout: tuple[FlagStage, ...] = ()


@frozen
class FlagStore(Frozen):
    """Where flags live: SSM parameters or AppConfig."""

    kind: str  # ssm | appconfig
    path: str | None = None
    application: str | None = None
    environment: str | None = None
    profile: str | None = None
    deployment_strategy: str | None = None


# --- monitoring -------------------------------------------------------------------


@frozen
class Alarm(Frozen):
    """A CloudWatch alarm on one of the published deployment metrics."""

    name: str
    metric: str
    threshold: float
    action: str  # alert | page | warn
    period: float = 300.0


@frozen
class Monitoring(Frozen):
    """The metrics a run publishes, their alarms and the alarms' actions."""

    namespace: str = "Deployctl"
    publish: tuple[str, ...] = ("DeploymentSuccess", "RollbackCount", "DeploymentDuration")
    alarms: tuple[Alarm, ...] = ()
    actions: Pairs = ()  # alert | page | warn -> SNS topic ARN (AlarmActions)


# --- documents ---------------------------------------------------------------------


@frozen
class Deployment(Frozen):
    """A ``kind: Deployment`` document."""

    header: Header
    target: Target
    strategy: Strategy
    deploy: Deploy | None = None
    metrics: tuple[MetricDef, ...] = ()
    analysis: Analysis = Analysis()
    rollback: Rollback = Rollback()
    smoke: tuple[SmokeTest, ...] = ()
    approvals: tuple[Approval, ...] = ()
    regions: Regions | None = None
    flags: tuple[Flag, ...] = ()
    store: FlagStore | None = None
    monitoring: Monitoring | None = None


@frozen
class FeatureFlags(Frozen):
    """A ``kind: FeatureFlags`` document."""

    header: Header
    store: FlagStore
    flags: tuple[Flag, ...]
    interval: float = 60.0
    metrics: tuple[MetricDef, ...] = ()
    analysis: Analysis = Analysis()
    rollback: Rollback = Rollback()
    approvals: tuple[Approval, ...] = ()
    monitoring: Monitoring | None = None


@frozen
class Runner(Frozen):
    """A migration phase's work: a Lambda invoke or a local argv (never a shell string)."""

    function: str | None = None
    payload: Any = None
    command: tuple[str, ...] = ()
    timeout: float = 3600.0
    env: Pairs = ()  # extra environment for ``command``


@frozen
class Phase(Frozen):
    """One phase of a migration, with its flag, runner and approval."""

    name: str  # dual_write | backfill | validate | switch_read | cleanup
    index: int
    flag: str | None = None
    runner: Runner | None = None
    approval: bool = False


@frozen
class Migration(Frozen):
    """A ``kind: Migration`` document."""

    header: Header
    rds_instance: str | None
    rds_cluster: str | None
    snapshot: bool
    phases: tuple[Phase, ...]
    store: FlagStore
    approvals: tuple[Approval, ...] = ()
    monitoring: Monitoring | None = None


@frozen
class PipelineEnv(Frozen):
    """One environment of a pipeline, with its vars, tests and approval."""

    name: str
    tests: str | None = None  # "smoke": re-run the plan's smoke tests after the deploy
    approval: bool = False
    vars: tuple[tuple[str, Any], ...] = ()


@frozen
class Pipeline(Frozen):
    """A ``kind: Pipeline`` document: one plan run through its environments."""

    header: Header
    plan: str  # path, relative to the pipeline file
    environments: tuple[PipelineEnv, ...]
    # The plan's documents, loaded once per environment (same order as environments).
    children: tuple[tuple[Manifest, ...], ...] = ()


Manifest = Deployment | FeatureFlags | Migration | Pipeline
