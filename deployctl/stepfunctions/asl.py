"""A compiled plan as an Amazon States Language (JSONPath) definition.

No AWS calls.  The execution input is ``{"run_id": "..."}``; every step that
finishes writes its outputs under ``$.o.<key>`` (``key`` = ``s<plan index>``),
so a later step's ``${new_version}`` becomes the JSONPath of the producing
step's output, resolved the way :class:`deployctl.execute.refs.Resolver`
does (nearest ancestor, own region first).  The presence of ``$.o.<key>`` is
also the record that a step completed: the rollback path reads it.

Shape of the machine:

- steps run in plan order; independent parts of the DAG (between steps that
  every other step is before or after) become ``Parallel`` states;
- a gate (``gate.analysis``) puts one CloudWatch alarm per stage threshold and
  per trigger (metric math for ratios, so AWS evaluates them), then loops
  ``Wait`` + ``cloudwatch:describeAlarms`` + ``Choice`` for its duration; the
  existing alarms it watches (``rollback.alarms``, a stage's ``alarms``) are
  read in the same loop and fail it as the local engine does (:meth:`_Translator.watch`);
- an approval is an ``ssm:putParameter.waitForTaskToken`` task: the token is
  stored in the parameter :func:`approval_parameter` names, where
  ``deployctl approve`` finds it;
- every failure (a failed task, a breached gate) goes through ``Catch`` to the
  rollback path: the undos of completed steps in reverse plan order, stopping
  at the first completed one-way door or irreversible step, as the local
  engine's rollback does.

Kinds this module cannot run on Step Functions are refused by step id with
the alternative (:class:`Unsupported`).
"""

from __future__ import annotations

import json
import math
import re
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from deployctl.core.params import GateAnalysisParams, missing_policy
from deployctl.core.refs import REF
from deployctl.errors import UserError
from deployctl.manifest.model import MetricDef
from deployctl.plan.api import Plan, Step
from deployctl.stepfunctions import alb, cloudformation, lambda_ops, route53
from deployctl.stepfunctions.states import to_rollback, which_states

LAMBDA_SDK = "arn:aws:states:::aws-sdk:lambda:"
CW_SDK = "arn:aws:states:::aws-sdk:cloudwatch:"
SSM_SDK = "arn:aws:states:::aws-sdk:ssm:"

ROLLED_BACK = "deployctl.RolledBack"
ROLLBACK_STOPPED = "deployctl.RollbackStopped"
GATE_BREACH = "deployctl.GateBreach"
SMOKE_FAILED = "deployctl.SmokeFailed"

# Kinds that cannot run inside Step Functions, and what to use instead.
REFUSED: dict[str, str] = {
    "command.run": (
        "a local command needs a machine; run it as a Lambda runner "
        "(a 'lambda: invoke' step) or an ECS/CodeBuild task"
    ),
    "smoke.http": (
        "HTTP smoke tests run from the deployctl process; use a Lambda smoke test "
        "(smoke: lambda:) or a Lambda runner that makes the request"
    ),
}
# A gate's missing_data (core/params.py missing_policy) as its alarms'
# TreatMissingData.  The machine counts an alarm in ALARM as a bad check, so
# "fail" is "breaching", as locally; "ignore" leaves the alarm in
# INSUFFICIENT_DATA, which counts as no check.  A machine cannot pause a gate
# for a person as the local engine does for "inconclusive": no data is a bad
# check there too (a rollback, never a silent pass).
TREAT_MISSING_DATA = {"fail": "breaching", "inconclusive": "breaching", "ignore": "missing"}
# DescribeAlarms takes 100 names (and answers 100 alarms a page): what one gate can watch
MAX_WATCHED = 100
# where a flag step keeps the parameter's value from before its write (its undo reads it)
PREVIOUS = "previous value"
NOT_YET = "not translated for Step Functions yet; run this plan with the local engine"

TRANSLATED = (
    "flag.set",
    "lambda.publish",
    "lambda.shift",
    "lambda.invoke",
    "smoke.lambda",
    "gate.analysis",
    "approval",
    "alb.discover",
    "alb.shift",
    "alb.drain",
    "route53.discover",
    "route53.shift",
    "cloudformation.deploy",
    "cloudwatch.alarms",
    "lambda.update_code",
    "lambda.cleanup_versions",
)
# the AWS SDK integration's service name -> the IAM action prefix, where they differ
_IAM_PREFIX = {"elasticloadbalancingv2": "elasticloadbalancing"}

_OPS = {
    ">": "GreaterThanThreshold",
    ">=": "GreaterThanOrEqualToThreshold",
    "<": "LessThanThreshold",
    "<=": "LessThanOrEqualToThreshold",
}


class Unsupported(UserError):
    """A step kind Step Functions cannot run: named by step id, with the alternative."""

    def __init__(self, source: str, steps: Sequence[Step]) -> None:
        first = steps[0]
        why = REFUSED.get(first.kind, NOT_YET)
        more = f" (and {len(steps) - 1} more step(s))" if len(steps) > 1 else ""
        super().__init__(
            f"{source}: step {first.id} ({first.kind}) cannot run on Step Functions: {why}{more}"
        )
        self.steps = tuple(steps)


@dataclass(frozen=True)
class Options:
    wait_scale: float = 1.0  # multiplies every Wait (tests and benchmarks use 0)


@dataclass
class Alarm:
    name: str
    step_id: str
    text: str
    metric: str
    op: str
    threshold: float


@dataclass
class Machine:
    """The translation: the definition plus what ``apply`` and ``iam`` need."""

    definition: dict[str, Any]
    alarms: list[Alarm] = field(default_factory=list)
    approvals: dict[str, str] = field(default_factory=dict)  # step id -> key
    # step id -> the existing alarms its gate watches (the team's: read, never written)
    watched: dict[str, list[str]] = field(default_factory=dict)
    resources: set[tuple[str, str]] = field(default_factory=set)  # (service:Action, region)
    # Map iterations of a healthy run over the watched alarms: one per alarm per check
    watch_items: int = 0

    def transitions(self) -> dict[str, int]:
        """Estimated state transitions of one healthy run (what Standard workflows bill)."""
        return {"healthy": _count(self.definition) + self.watch_items}


def refused(plan: Plan) -> list[Step]:
    return [s for s in plan.steps if s.kind not in TRANSLATED or _refuse_params(s)]


def _refuse_params(step: Step) -> bool:
    if step.kind.startswith("alb."):
        return alb.refuse(step)
    if step.kind.startswith("route53."):
        return route53.refuse(step)
    if step.kind == "lambda.update_code":
        return lambda_ops.refuse(step)
    if step.kind == "flag.set":
        return bool(step.params["store"].get("kind") != "ssm")  # AppConfig: not yet
    if step.kind == "smoke.lambda":
        expect = step.params.get("expect")
        return expect is not None and not (
            isinstance(expect, Mapping)
            and all(isinstance(v, str | int | float | bool) for v in expect.values())
        )
    return False


def machine_name(plan: Plan) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"deployctl-{plan.project}-{plan.environment}")[:80]


def alarm_name(plan: Plan, step: Step, n: int) -> str:
    return f"deployctl-{plan.project}-{plan.environment}-{step.id}-{n}"[:255]


def approval_parameter(project: str, environment: str, run_id: str, key: str) -> str:
    """The SSM parameter holding an approval's task token."""
    return f"/deployctl/{project}/{environment}/{run_id}/approval/{key}"


def translate(plan: Plan, options: Options | None = None) -> Machine:
    bad = refused(plan)
    if bad:
        raise Unsupported(plan.source, bad)
    return _Translator(plan, options or Options()).build()


# --- the translator ---------------------------------------------------------------


def _esc(text: str) -> str:
    """A literal for States.Format: escape its specials."""
    return re.sub(r"([\\'{}])", r"\\\1", text)


class _Translator:
    def __init__(self, plan: Plan, options: Options) -> None:
        self.plan = plan
        self.options = options
        self.index = {s.id: n for n, s in enumerate(plan.steps)}
        self.machine = Machine(definition={})
        self.states: dict[str, dict[str, Any]] = {}
        self.names: dict[str, str] = {}
        # output name -> JSONPath, per producing step id
        self.out_paths: dict[str, dict[str, str]] = {}
        # where a step inside a Parallel branch records that it is done, after the Parallel
        self.done_paths: dict[str, str] = {}
        # text the machine needs in its state ($.c): description -> (key, value)
        self.constants: dict[str, tuple[str, str]] = {"open": ("open", '{"')}
        # an undo can stop the rollback (an ALB side found unhealthy): RollbackStopped exists
        self.stops = False

    def refuse(self, step: Step) -> NoReturn:
        raise Unsupported(self.plan.source, [step])

    # -- naming

    def key(self, step: Step) -> str:
        return f"s{self.index[step.id]}"

    def name(self, step: Step, suffix: str = "") -> str:
        base = step.id if not suffix else f"{step.id} {suffix}"
        if len(base) > 80:
            base = f"{self.key(step)} …{base[-(76 - len(self.key(step))) :]}"
        return base

    # -- references

    def path_of(self, step: Step, ref: str) -> str | None:
        """The JSONPath of ``${ref}`` for ``step``; None for a static value."""
        if ref.startswith("steps."):
            sid, _, out = ref[len("steps.") :].rpartition(".")
            return self.out_paths.get(sid, {}).get(out)
        best: tuple[int, int, str] | None = None
        seen = {step.id, *step.deps}
        queue = deque((d, 1) for d in step.deps)
        while queue:
            sid, dist = queue.popleft()
            found = self.out_paths.get(sid, {}).get(ref)
            if found is not None:
                if self.plan.by_id[sid].region == step.region:
                    return found
                if best is None or (dist, -self.index[sid]) < best[:2]:
                    best = (dist, -self.index[sid], found)
            for dep in self.plan.by_id[sid].deps:
                if dep not in seen:
                    seen.add(dep)
                    queue.append((dep, dist + 1))
        return best[2] if best else None

    def value(self, step: Step, key: str, value: Any) -> tuple[str, Any]:
        """``(key, value)`` or ``(key.$, path-or-intrinsic)`` for an ASL Parameters entry."""
        if isinstance(value, Mapping):
            return key, {k2: v2 for k, v in value.items() for k2, v2 in [self.value(step, k, v)]}
        if isinstance(value, list | tuple):
            return key, [self.value(step, "x", v)[1] for v in value]  # no refs inside lists
        if not isinstance(value, str) or "${" not in value:
            return key, value
        parts: list[str] = []
        args: list[str] = []
        pos = 0
        for match in REF.finditer(value):
            parts.append(_esc(value[pos : match.start()]))
            pos = match.end()
            ref = match.group(1).strip()
            if ref == "region":
                parts.append(_esc(step.region or ""))
                continue
            path = self.path_of(step, ref)
            if path is None:
                raise UserError(f"{self.plan.source}: step {step.id}: cannot resolve ${{{ref}}}")
            parts.append("{}")
            args.append(path)
        parts.append(_esc(value[pos:]))
        if not args:
            return key, "".join(parts).replace("\\", "")
        whole = REF.fullmatch(value)
        if whole and len(args) == 1:
            return f"{key}.$", args[0]
        return f"{key}.$", f"States.Format('{''.join(parts)}', {', '.join(args)})"

    def params(self, step: Step, mapping: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self.value(step, k, v) for k, v in mapping.items())

    # -- building blocks

    def add(self, name: str, state: dict[str, Any]) -> str:
        if name in self.states:
            raise UserError(f"{self.plan.source}: two states named {name!r}")
        self.states[name] = state
        return name

    def task(
        self, step: Step, name: str, action: str, parameters: dict[str, Any], **extra: Any
    ) -> dict[str, Any]:
        service, _, api = action.partition(":")
        prefix = _IAM_PREFIX.get(service, service)
        self.machine.resources.add((f"{prefix}:{api[0].upper()}{api[1:]}", step.region or "*"))
        state: dict[str, Any] = {
            "Type": "Task",
            "Resource": f"arn:aws:states:::aws-sdk:{action}",
            "Parameters": parameters,
            "Retry": [
                {
                    "ErrorEquals": ["States.TaskFailed"],
                    "IntervalSeconds": 1,
                    "MaxAttempts": 2,
                    "BackoffRate": 2.0,
                }
            ],
            **extra,
        }
        return state

    def catch(self, state: dict[str, Any], to: str = "Rollback") -> dict[str, Any]:
        state["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": to}]
        return state

    def wait_seconds(self, seconds: float) -> int:
        return max(0, math.ceil(seconds * self.options.wait_scale))

    # -- one step -> a chain of states: returns (first, list of (name, state)) with the
    #    last state's "Next" left for the caller

    def step_chain(self, step: Step) -> list[tuple[str, dict[str, Any]]]:
        kind = step.kind
        k = self.key(step)
        done = f"$.o.{k}"
        p = step.params
        if kind == "lambda.publish":
            self.out_paths[step.id] = {
                "stable_version": f"$.o.{k}a.stable_version",
                "alias_revision": f"$.o.{k}a.alias_revision",
                "new_version": f"{done}.new_version",
            }
            alias = self.task(
                step,
                "",
                "lambda:getAlias",
                {"FunctionName": p["function"], "Name": p["alias"]},
                ResultSelector={
                    "stable_version.$": "$.FunctionVersion",
                    "alias_revision.$": "$.RevisionId",
                },
                ResultPath=f"$.o.{k}a",
            )
            publish = self.task(
                step,
                "",
                "lambda:publishVersion",
                {"FunctionName": p["function"]},
                ResultSelector={"new_version.$": "$.Version"},
                ResultPath=done,
            )
            return [(self.name(step, "alias"), alias), (self.name(step), publish)]
        if kind == "lambda.shift":
            self.out_paths[step.id] = {}
            return [(self.name(step), self.shift(step, undo=False))]
        if kind == "flag.set":
            return self.flag(step)
        if kind in ("lambda.invoke", "smoke.lambda"):
            args: dict[str, Any] = {"FunctionName": p["function"]}
            if p.get("qualifier"):
                args["Qualifier"] = p["qualifier"]
            if p.get("payload") is not None:
                args["Payload"] = p["payload"]
            # The optimized integration, not aws-sdk: it returns the Payload as JSON
            # (aws-sdk gives a string; moto 5.2.5 even a stream's repr) and fails the
            # task on a FunctionError, which the Catch routes to the rollback path.
            # No Retry: a smoke test or a runner is not repeated behind its back.
            self.machine.resources.add(("lambda:InvokeFunction", step.region or "*"))
            invoke = {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": self.params(step, args),
                "ResultSelector": {"Payload.$": "$.Payload"},
                "ResultPath": f"$.r.{k}",
            }
            self.out_paths[step.id] = {}
            fail_name = self.name(step, "failed")
            # Rules run in order and the first match wins: a field is tested only
            # once it is known to be there (a missing path is a runtime error).
            choices: list[dict[str, Any]] = []
            for field_name, want in (p.get("expect") or {}).items():
                var = f"$.r.{k}.Payload.{field_name}"
                choices.append({"Not": {"Variable": var, "IsPresent": True}, "Next": fail_name})
                choices.append({"Not": _equals(var, want), "Next": fail_name})
            if not choices:
                ok = {"Type": "Pass", "Result": {"done": True}, "ResultPath": done}
                return [(self.name(step), invoke), (self.name(step, "ok"), ok)]
            check = {"Type": "Choice", "Choices": choices, "Default": self.name(step, "ok")}
            failed = to_rollback(SMOKE_FAILED, step.id)
            ok = {"Type": "Pass", "Result": {"done": True}, "ResultPath": done}
            return [
                (self.name(step), invoke),
                (self.name(step, "check"), check),
                (fail_name, failed),
                (self.name(step, "ok"), ok),
            ]
        if kind == "approval":
            self.machine.approvals[step.id] = k
            self.out_paths[step.id] = {}
            state = self.task(
                step,
                "",
                "ssm:putParameter.waitForTaskToken",
                {
                    "Name.$": "States.Format('"
                    + _esc(
                        approval_parameter(self.plan.project, self.plan.environment, "{}", k)
                    ).replace("\\{\\}", "{}")
                    + "', $.run_id)",
                    "Value.$": "$$.Task.Token",
                    "Type": "String",
                    "Overwrite": True,
                },
                ResultSelector={"approved": True},
                ResultPath=done,
            )
            del state["Retry"]
            return [(self.name(step), state)]
        if kind == "gate.analysis":
            self.out_paths[step.id] = {}
            return self.gate(step)
        if kind == "alb.discover":
            return alb.discover(self, step)
        if kind == "alb.shift":
            return alb.shift(self, step)
        if kind == "alb.drain":
            return alb.drain(self, step)
        if kind == "route53.discover":
            return route53.discover(self, step)
        if kind == "route53.shift":
            return route53.shift(self, step)
        if kind == "cloudformation.deploy":
            return cloudformation.deploy(self, step)
        if kind == "cloudwatch.alarms":
            return lambda_ops.alarms(self, step)
        if kind == "lambda.update_code":
            return lambda_ops.update_code(self, step)
        if kind == "lambda.cleanup_versions":
            return lambda_ops.cleanup_versions(self, step)
        raise Unsupported(self.plan.source, [step])  # refused() lists every kind above

    def flag(self, step: Step) -> list[tuple[str, dict[str, Any]]]:
        """``flag.set`` on an SSM store: read what the parameter held (GetParameters
        answers a missing name without an error), then write the flag's JSON, as
        :class:`deployctl.actions.flagstore.FlagSet` does."""
        k = self.key(step)
        self.out_paths[step.id] = {PREVIOUS: f"$.o.{k}p"}
        name = _flag_parameter(step)
        read = self.task(
            step,
            "",
            "ssm:getParameters",
            {"Names": [name]},
            ResultSelector={
                "n.$": "States.ArrayLength($.Parameters)",
                "values.$": "$.Parameters[*].Value",
            },
            ResultPath=f"$.o.{k}p",
        )
        write = self.task(
            step,
            "",
            "ssm:putParameter",
            {
                "Name": name,
                "Value": json.dumps(step.params["value"], sort_keys=True, separators=(",", ":")),
                "Type": "String",
                "Overwrite": True,
                "Description.$": (
                    "States.Format('feature flag managed by deployctl (run {})', $.run_id)"
                ),
            },
            ResultSelector={"done": True},
            ResultPath=f"$.o.{k}",
        )
        return [(self.name(step, "read"), read), (self.name(step), write)]

    def flag_undo(self, step: Step, undo_name: str) -> list[tuple[str, dict[str, Any]]]:
        """Put back the value the parameter held, or delete the one the step created."""
        previous = self.out_paths[step.id][PREVIOUS]
        name = _flag_parameter(step)
        restore = self.task(
            step,
            "",
            "ssm:putParameter",
            {
                "Name": name,
                "Value.$": f"States.ArrayGetItem({previous}.values, 0)",
                "Type": "String",
                "Overwrite": True,
            },
            ResultPath=None,
        )
        delete = self.task(step, "", "ssm:deleteParameter", {"Name": name}, ResultPath=None)
        existed = {
            "Type": "Choice",
            "Choices": [{"Variable": f"{previous}.n", "NumericEquals": 1, "Next": undo_name}],
            "Default": self.name(step, "delete undo"),
        }
        return [
            (self.name(step, "existed?"), existed),
            (undo_name, restore),
            (self.name(step, "delete undo"), delete),
        ]

    def shift(self, step: Step, *, undo: bool) -> dict[str, Any]:
        p = step.params
        new = self.path_of(step, "new_version") if "${" in str(p["new_version"]) else None
        stable = self.path_of(step, "stable_version") if "${" in str(p["stable_version"]) else None
        weight = float(p["weight"])
        args: dict[str, Any] = {"FunctionName": p["function"], "Name": p["alias"]}

        def version(path: str | None, literal: Any) -> None:
            if path is None:
                args["FunctionVersion"] = str(literal)
            else:
                args["FunctionVersion.$"] = path

        if undo:
            version(stable, p["stable_version"])
            args["RoutingConfig"] = {"AdditionalVersionWeights": {}}
        elif weight >= 100:
            version(new, p["new_version"])
            args["RoutingConfig"] = {"AdditionalVersionWeights": {}}
        else:
            version(stable, p["stable_version"])
            share = round(weight / 100.0, 6)
            # The new version is a map key, which JSONPath Parameters cannot compute:
            # build the map as text and parse it.  The braces come from constants in
            # the state ($.c), not from the template: moto's States.Format does not
            # honour escaped braces (\\{), AWS does; arguments work on both.
            tail = f"w{len(self.constants)}"
            self.constants.setdefault(f"tail {share}", (tail, f'":{share}}}'))
            tail = self.constants[f"tail {share}"][0]
            version_arg = new if new else f"'{_esc(str(p['new_version']))}'"
            args["RoutingConfig"] = {
                "AdditionalVersionWeights.$": (
                    f"States.StringToJson(States.Format('{{}}{{}}{{}}', $.c.open, "
                    f"{version_arg}, $.c.{tail}))"
                )
            }
        k = self.key(step)
        return self.task(
            step,
            "",
            "lambda:updateAlias",
            args,
            ResultSelector={"done": True},
            ResultPath=f"$.u.{k}" if undo else f"$.o.{k}",
        )

    def gate(self, step: Step) -> list[tuple[str, dict[str, Any]]]:
        p = GateAnalysisParams.from_params(step.params)
        k = self.key(step)
        rules: list[tuple[str, str, str, float]] = []  # (text, metric, op, threshold)
        if p.metric and p.threshold is not None:
            rules.append((f"{p.metric} <= {p.threshold}", p.metric, ">", float(p.threshold)))
        for trigger in p.triggers:
            text = trigger.text or f"{trigger.metric}{trigger.op}{trigger.value}"
            rules.append((text, trigger.metric, trigger.op, float(trigger.value)))
        # No data as the local engine treats it (execute/gates.py), fail-closed.
        treat_missing = TREAT_MISSING_DATA[missing_policy(p)]
        chain: list[tuple[str, dict[str, Any]]] = []
        names: list[str] = []
        for n, (text, metric_name, op, threshold) in enumerate(rules):
            metric = self.plan.metrics.get(metric_name)
            if metric is None or op not in _OPS:
                raise UserError(
                    f"{self.plan.source}: step {step.id}: rule {text!r} cannot be a CloudWatch alarm"
                )
            name = alarm_name(self.plan, step, n)
            names.append(name)
            self.machine.alarms.append(Alarm(name, step.id, text, metric_name, op, threshold))
            put = self.task(
                step,
                "",
                "cloudwatch:putMetricAlarm",
                {
                    "AlarmName": name,
                    "AlarmDescription": f"deployctl {step.id}: {text}",
                    "ComparisonOperator": _OPS[op],
                    "Threshold": threshold,
                    "EvaluationPeriods": 1,
                    "DatapointsToAlarm": 1,
                    "TreatMissingData": treat_missing,
                    "Metrics": self.metric_queries(step, metric),
                },
                ResultPath=None,
            )
            chain.append((self.name(step, f"alarm {n}"), put))
        interval = float(p.interval or 60)
        checks = max(1, math.ceil(float(p.duration or 0) / interval))
        limit = int(p.failure_limit or 0)
        g = f"$.g.{k}"
        chain.append(
            (
                self.name(step, "start"),
                {"Type": "Pass", "Result": {"n": 0, "bad": 0}, "ResultPath": g},
            )
        )
        wait_name = self.name(step, "wait")
        chain.append(
            (
                wait_name,
                {
                    "Type": "Wait",
                    "Seconds": self.wait_seconds(interval),
                },
            )
        )
        count = self.name(step, "count")
        # what makes this check a bad one (counted against failure_limit)
        bad: list[dict[str, Any]] = []
        if names:
            # Alarm states are read as $.MetricAlarms[*].StateValue, always a list
            # (on AWS and on moto alike), and tested with States.ArrayContains: a path
            # such as $.MetricAlarms[0].StateValue is a string on AWS but a
            # one-element list on moto 5.2.5, and moto ignores StateValue when
            # AlarmNames is given, so neither "[0]" nor a StateValue filter works on both.
            chain.append(
                (
                    self.name(step, "check"),
                    self.task(
                        step,
                        "",
                        "cloudwatch:describeAlarms",
                        {"AlarmNames": names},
                        ResultSelector={
                            "alarm.$": "States.ArrayContains($.MetricAlarms[*].StateValue, 'ALARM')"
                        },
                        ResultPath=f"{g}.seen",
                    ),
                )
            )
            bad.append({"Variable": f"{g}.seen.alarm", "BooleanEquals": True})
        watched = list(dict.fromkeys(str(a) for a in p.alarms))
        if watched:
            if missing_policy(p) != "ignore":
                # INSUFFICIENT_DATA is no data, as locally: a bad check unless ignored
                bad += [
                    {"Variable": f"{g}.w.{kind}.nodata", "BooleanEquals": True}
                    for kind in ("m", "c")
                ]
            after = self.name(step, "alarm?") if bad else count
            chain += self.watch(step, watched, f"{g}.w", after)
            self.machine.watch_items += checks * len(watched)
        if bad:
            breach = self.name(step, "breach")
            rule = bad[0] if len(bad) == 1 else {"Or": bad}
            chain.append(
                (
                    self.name(step, "alarm?"),
                    {
                        "Type": "Choice",
                        "Choices": [{**rule, "Next": self.name(step, "count bad")}],
                        "Default": count,
                    },
                )
            )
            chain.append(
                (
                    self.name(step, "count bad"),
                    {
                        "Type": "Pass",
                        "Parameters": {
                            "n.$": f"{g}.n",
                            "bad.$": f"States.MathAdd({g}.bad, 1)",
                        },
                        "ResultPath": g,
                        "Next": self.name(step, "too bad?"),
                    },
                )
            )
            chain.append(
                (
                    self.name(step, "too bad?"),
                    {
                        "Type": "Choice",
                        "Choices": [
                            {"Variable": f"{g}.bad", "NumericGreaterThan": limit, "Next": breach}
                        ],
                        "Default": count,
                    },
                )
            )
            chain.append(
                (
                    breach,
                    to_rollback(GATE_BREACH, step.id),
                )
            )
        chain.append(
            (
                self.name(step, "count"),
                {
                    "Type": "Pass",
                    "Parameters": {"n.$": f"States.MathAdd({g}.n, 1)", "bad.$": f"{g}.bad"},
                    "ResultPath": g,
                    "Next": self.name(step, "done?"),
                },
            )
        )
        chain.append(
            (
                self.name(step, "done?"),
                {
                    "Type": "Choice",
                    "Choices": [
                        {"Variable": f"{g}.n", "NumericLessThan": checks, "Next": wait_name}
                    ],
                    "Default": self.name(step, "passed"),
                },
            )
        )
        chain.append(
            (
                self.name(step, "passed"),
                {"Type": "Pass", "Result": {"done": True}, "ResultPath": f"$.o.{k}"},
            )
        )
        return chain

    def watch(
        self, step: Step, alarms: list[str], at: str, then: str
    ) -> list[tuple[str, dict[str, Any]]]:
        """One check of the existing alarms a gate watches, as the local engine's
        (actions/analysis.py): one ``describeAlarms`` of them (metric and composite),
        then a name that is not found, or an alarm in ``ALARM``, fails the gate at
        once (a tripped trigger, whatever ``failure_limit`` says); otherwise on to
        ``then``, with ``at.m`` / ``at.c`` telling whether a metric / composite
        alarm is in ``INSUFFICIENT_DATA`` (no data: the caller counts it)."""
        if len(alarms) > MAX_WATCHED:
            raise UserError(
                f"{self.plan.source}: step {step.id} watches {len(alarms)} alarms; a Step "
                f"Functions gate reads at most {MAX_WATCHED} (one DescribeAlarms): run this "
                "plan with the local engine"
            )
        self.machine.watched[step.id] = list(alarms)
        read = self.task(
            step,
            "",
            "cloudwatch:describeAlarms",
            # MaxRecords: one page holds every name (the default page is 50)
            {
                "AlarmNames": alarms,
                "AlarmTypes": ["MetricAlarm", "CompositeAlarm"],
                "MaxRecords": MAX_WATCHED,
            },
            # DescribeAlarms leaves out a name that does not exist: found < len(alarms)
            ResultSelector={
                "m.$": "$.MetricAlarms",
                "c.$": "$.CompositeAlarms",
                "found.$": (
                    "States.MathAdd(States.ArrayLength($.MetricAlarms), "
                    "States.ArrayLength($.CompositeAlarms))"
                ),
            },
            ResultPath=at,
        )

        def states(kind: str) -> dict[str, Any]:
            found = {"alarm": "ALARM", "nodata": "INSUFFICIENT_DATA"}
            # (a list that may be empty: no such alarm, no composite alarm)
            return {
                **which_states(f"{at}.{kind}", "StateValue", found),
                # over the answer: what moto keeps of it (datetimes) cannot be serialized
                "ResultPath": f"{at}.{kind}",
            }

        missing = self.name(step, "alarm missing")
        firing = self.name(step, "alarm firing")
        shown = ", ".join(alarms)
        check = {
            "Type": "Choice",
            "Choices": [
                {"Not": {"Variable": f"{at}.found", "NumericEquals": len(alarms)}, "Next": missing},
                {
                    "Or": [
                        {"Variable": f"{at}.{kind}.alarm", "BooleanEquals": True}
                        for kind in ("m", "c")
                    ],
                    "Next": firing,
                },
            ],
            "Default": then,
        }

        return [
            (self.name(step, "watch"), read),
            (self.name(step, "watch metric"), states("m")),
            (self.name(step, "watch composite"), states("c")),
            (self.name(step, "watched?"), check),
            (
                missing,
                to_rollback(
                    GATE_BREACH, f"{step.id}: an alarm it watches does not exist (one of {shown})"
                ),
            ),
            (
                firing,
                to_rollback(
                    GATE_BREACH, f"{step.id}: an alarm it watches is in ALARM (one of {shown})"
                ),
            ),
        ]

    def metric_queries(self, step: Step, metric: MetricDef) -> list[dict[str, Any]]:
        def stat(query: Any, ident: str, data: bool) -> dict[str, Any]:
            dims = [
                self.params(step, {"Name": name, "Value": value})
                for name, value in sorted(dict(query.dimensions).items())
            ]
            return {
                "Id": ident,
                "MetricStat": {
                    "Metric": {
                        "Namespace": query.namespace,
                        "MetricName": query.metric,
                        "Dimensions": dims,
                    },
                    "Period": int(query.period),
                    "Stat": query.stat,
                },
                "ReturnData": data,
            }

        scale = float(metric.scale)
        factor = "" if scale == 1.0 else f"*{scale:g}"
        if metric.query is not None:
            if not factor:
                return [stat(metric.query, "m", True)]
            return [stat(metric.query, "m", False), {"Id": "v", "Expression": f"m{factor}"}]
        return [
            stat(metric.numerator, "n", False),
            stat(metric.denominator, "d", False),
            {"Id": "v", "Expression": f"(n/d){factor}", "ReturnData": True},
        ]

    # -- the DAG -> states

    def block(self, ids: list[str]) -> list[tuple[str, dict[str, Any]]]:
        """States running the steps ``ids`` (a topologically ordered, dependency-closed
        slice) in order, with Parallel states where the slice splits."""
        order = [s for s in self.plan.steps if s.id in set(ids)]
        group = {s.id for s in order}
        before = {s.id: {d for d in s.deps if d in group} for s in order}
        ancestors: dict[str, set[str]] = {}
        for s in order:
            acc: set[str] = set()
            for d in before[s.id]:
                acc |= {d} | ancestors[d]
            ancestors[s.id] = acc
        descendants: dict[str, set[str]] = {s.id: set() for s in order}
        for s in reversed(order):
            for d in before[s.id]:
                descendants[d] |= {s.id} | descendants[s.id]
        out: list[tuple[str, dict[str, Any]]] = []
        pending: list[str] = []
        seen: set[str] = set()
        for n, s in enumerate(order):
            # a cut: every step before s is its ancestor, every step after its descendant
            later = {t.id for t in order[n + 1 :]}
            if ancestors[s.id] == seen and descendants[s.id] == later:
                out += self.section(pending)
                pending = []
                out += self.step_chain(s)
            else:
                pending.append(s.id)
            seen.add(s.id)
        out += self.section(pending)
        return out

    def section(self, ids: list[str]) -> list[tuple[str, dict[str, Any]]]:
        if not ids:
            return []
        group = set(ids)
        parent = {i: i for i in ids}

        def find(i: str) -> str:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for i in ids:
            for d in self.plan.by_id[i].deps:
                if d in group:
                    parent[find(i)] = find(d)
        comps: dict[str, list[str]] = {}
        for i in ids:
            comps.setdefault(find(i), []).append(i)
        if len(comps) == 1:
            # one component without a cut: run it in plan order (still honours every edge)
            chain: list[tuple[str, dict[str, Any]]] = []
            for i in ids:
                chain += self.step_chain(self.plan.by_id[i])
            return chain
        branches = []
        first = self.key(self.plan.by_id[ids[0]])
        pname = f"parallel {first}"
        where = f"$.par.{first}"
        for n, comp in enumerate(comps.values()):
            states = self.block(comp)
            # A failing branch ends normally with $.failed set, so what it did
            # (its $.o) reaches the rollback path after the Parallel; a Catch on
            # the Parallel itself would drop every branch's record.
            failed = f"{pname} branch {n} failed"
            # The branch's last state ends it; only a failure goes to `failed`.
            sub = self.link(states, end=False, last=None, catch_to=failed)
            if failed in json.dumps(sub):  # a branch that cannot fail has no failed state
                sub[failed] = {
                    "Type": "Pass",
                    "Result": True,
                    "ResultPath": "$.failed",
                    "End": True,
                }
            branches.append({"StartAt": states[0][0], "States": sub})
            # outputs made inside the branch: reached after the Parallel via its result
            for sid in comp:
                for out, path in self.out_paths.get(sid, {}).items():
                    self.out_paths[sid][out] = path.replace("$.", f"{where}[{n}].", 1)
                self.done_paths[sid] = f"{where}[{n}].o.{self.key(self.plan.by_id[sid])}"
        state = {"Type": "Parallel", "Branches": branches, "ResultPath": where}
        check = {
            "Type": "Choice",
            "Choices": [
                {
                    "Or": [
                        {"Variable": f"{where}[{n}].failed", "IsPresent": True}
                        for n in range(len(branches))
                    ],
                    "Next": "Rollback",
                }
            ],
        }
        return [(pname, state), (f"{pname} failed?", check)]

    def link(
        self,
        states: list[tuple[str, dict[str, Any]]],
        *,
        end: bool,
        last: str | None = None,
        catch_to: str = "Rollback",
    ) -> dict[str, dict[str, Any]]:
        """Give each state its Next (the following one) unless it has one; route
        failures (and the Next of a breach or failed check) to ``catch_to``."""
        out: dict[str, dict[str, Any]] = {}
        for n, (name, state) in enumerate(states):
            if state["Type"] in ("Task", "Parallel", "Map") and "Catch" not in state and not end:
                self.catch(state, catch_to)
            if state.get("Next") == "Rollback":
                state["Next"] = catch_to
            for choice in state.get("Choices", ()):
                if choice.get("Next") == "Rollback":
                    choice["Next"] = catch_to
            if state["Type"] == "Choice" and "Default" not in state:
                state["Default"] = states[n + 1][0] if n + 1 < len(states) else catch_to
            if state.get("End"):
                pass
            elif state["Type"] not in ("Choice", "Succeed", "Fail") and "Next" not in state:
                following = states[n + 1][0] if n + 1 < len(states) else last
                if following is None:
                    state["End"] = True
                else:
                    state["Next"] = following
            if name in out:
                raise UserError(f"{self.plan.source}: two states named {name!r}")
            out[name] = state
        return out

    def rollback(self) -> list[tuple[str, dict[str, Any]]]:
        chain: list[tuple[str, dict[str, Any]]] = [
            ("Rollback", {"Type": "Pass", "Comment": "undo completed steps, newest first"})
        ]
        groups: dict[str, int] = {}  # undo? Choice -> how many undo states follow it
        for step in reversed(self.plan.steps):
            if step.undo is None and not step.one_way and step.reversible:
                continue
            done = self.done_path(step)
            if step.one_way or not step.reversible:
                chain.append(
                    (
                        self.name(step, "passed?"),
                        {
                            "Type": "Choice",
                            "Choices": [
                                {"Variable": done, "IsPresent": True, "Next": "RollbackStopped"}
                            ],
                        },
                    )
                )
                continue
            # the translated undos
            if step.kind not in (
                "lambda.shift",
                "flag.set",
                "alb.shift",
                "route53.shift",
                "cloudformation.deploy",
            ):
                continue
            undo_name = self.name(step, "undo")
            if step.kind == "flag.set":
                undos = self.flag_undo(step, undo_name)
            elif step.kind == "alb.shift":
                undos = alb.shift_undo(self, step, undo_name)
            elif step.kind == "route53.shift":
                undos = route53.shift_undo(self, step, undo_name)
            elif step.kind == "cloudformation.deploy":
                undos = cloudformation.deploy_undo(self, step, undo_name)
            else:
                undos = [(undo_name, self.shift(step, undo=True))]
            groups[self.name(step, "undo?")] = len(undos)
            chain.append(
                (
                    self.name(step, "undo?"),
                    {
                        "Type": "Choice",
                        "Choices": [{"Variable": done, "IsPresent": True, "Next": undos[0][0]}],
                    },
                )
            )
            chain += undos
        chain += self.free_lock("RolledBack", "RolledBack end")
        chain.append(
            (
                "RolledBack end",
                {"Type": "Fail", "Error": ROLLED_BACK, "Cause": "rolled back"},
            )
        )
        # An undo? Choice and its undo states go on to the state after the group;
        # a passed? Choice (a one-way door not passed) to the state after it.
        for n, (name, state) in enumerate(chain):
            if state["Type"] != "Choice" or "Default" in state:
                continue
            after = chain[n + 1 + groups.get(name, 0)][0]
            state["Default"] = after
            for _undo, undo_state in chain[n + 1 : n + 1 + groups.get(name, 0)]:
                if undo_state["Type"] == "Task":
                    undo_state.setdefault("Next", after)
        return chain

    def free_lock(self, name: str, then: str) -> list[tuple[str, dict[str, Any]]]:
        """The states that end an execution free the plan's lock when the input
        carries one (``$.lock``: a DynamoDB state store the machine can reach,
        :func:`deployctl.stepfunctions.engine.machine_lock`); a lock someone else
        holds by then (token and epoch differ) is left alone, and so is a failed
        call: the first deployctl command that sees the ended run frees it."""
        free = f"{name} free lock"
        self.machine.resources.add(("dynamodb:UpdateItem", "*"))
        update = {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:dynamodb:updateItem",
            "Parameters": {
                "TableName.$": "$.lock.table",
                "Key": {"pk": {"S": "locks"}, "sk": {"S.$": "$.lock.id"}},
                "UpdateExpression": "SET holder = :none, #t = :none, lease_until = :zero",
                "ConditionExpression": "#t = :t AND epoch = :e",
                "ExpressionAttributeNames": {"#t": "token"},
                "ExpressionAttributeValues": {
                    ":t": {"S.$": "$.lock.token"},
                    ":e": {"N.$": "$.lock.epoch"},
                    ":none": {"S": ""},
                    ":zero": {"N": "0"},
                },
            },
            "ResultPath": None,
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": then}],
            "Next": then,
        }
        check = {
            "Type": "Choice",
            "Choices": [{"Variable": "$.lock", "IsPresent": True, "Next": free}],
            "Default": then,
        }
        return [(name, check), (free, update)]

    def done_path(self, step: Step) -> str:
        return self.done_paths.get(step.id, f"$.o.{self.key(step)}")

    def build(self) -> Machine:
        plan = self.plan
        main = self.block([s.id for s in plan.steps])
        main += self.free_lock("Done", "Succeeded")
        main.append(("Succeeded", {"Type": "Succeed"}))
        main.insert(
            0,
            (
                "Start",
                {
                    "Type": "Pass",
                    "Comment": "constants the states format with",
                    "Result": dict(self.constants.values()),
                    "ResultPath": "$.c",
                },
            ),
        )
        states = self.link(main, end=False)
        rollback = self.rollback()
        rb_states: dict[str, dict[str, Any]] = {}
        for n, (name, state) in enumerate(rollback):
            if state["Type"] not in ("Choice", "Fail") and "Next" not in state:
                state["Next"] = rollback[n + 1][0]
            if state["Type"] == "Task" and name.endswith(" undo"):
                state.pop("Retry", None)
                state["Retry"] = [
                    {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 3}
                ]
            rb_states[name] = state
        if self.stops or any(s.one_way or not s.reversible for s in plan.steps):
            for name, state in self.free_lock("RollbackStopped", "RollbackStopped end"):
                rb_states[name] = state
            rb_states["RollbackStopped end"] = {
                "Type": "Fail",
                "Error": ROLLBACK_STOPPED,
                "Cause": "rollback stopped at a one-way door; steps before it stay applied",
            }
        # 'deployctl rollback RUN_ID' starts an execution with {"rollback": true} and
        # the record ($.o) of the run it rolls back: straight to the rollback path.
        begin = {
            "Type": "Choice",
            "Choices": [{"Variable": "$.rollback", "IsPresent": True, "Next": "Rollback"}],
            "Default": main[0][0],
        }
        self.machine.definition = {
            "Comment": (
                f"deployctl {plan.kind} {plan.project}/{plan.environment} "
                f"(plan digest {plan.digest[:12]})"
            ),
            "StartAt": "Begin",
            "States": {"Begin": begin, **states, **rb_states},
        }
        return self.machine


def _flag_parameter(step: Step) -> str:
    return f"{str(step.params['store']['path']).rstrip('/')}/{step.params['flag']}"


def _equals(var: str, want: Any) -> dict[str, Any]:
    if isinstance(want, bool):
        return {"Variable": var, "BooleanEquals": want}
    if isinstance(want, int | float):
        return {"Variable": var, "NumericEquals": want}
    return {"Variable": var, "StringEquals": str(want)}


def _count(definition: Mapping[str, Any]) -> int:
    """State transitions of a healthy run: each state entered once, gate loops
    entered once per check, Parallel branches summed."""
    total = 0
    states: Mapping[str, Any] = definition["States"]
    name: str | None = definition["StartAt"]
    visited = 0
    while name is not None and visited < 100_000:
        visited += 1
        state = states[name]
        total += 1
        kind = state["Type"]
        if kind == "Parallel":
            total += sum(_count(b) for b in state["Branches"])
        if kind == "Choice":
            loop = [c for c in state["Choices"] if "NumericLessThan" in c]
            if loop:
                checks = int(loop[0]["NumericLessThan"])
                # wait, check, alarm?, count, done?: once per check after the first pass
                total += (checks - 1) * _loop_len(states, loop[0]["Next"], name)
            name = state.get("Default")
            continue
        if kind in ("Succeed", "Fail") or state.get("End"):
            break
        name = state.get("Next")
    return total


def _loop_len(states: Mapping[str, Any], start: str, end: str) -> int:
    """States entered from ``start`` back to ``end`` on the healthy path."""
    n, name = 1, start
    while name != end and n < 1000:
        state = states[name]
        name = state.get("Next") or state.get("Default")
        n += 1
    return n
