"""``deployctl export --format asl``: the plan as an Amazon States Language
definition, checked for its shape without AWS (moto runs the definitions in
test_equivalence and test_engine)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from deployctl.actions.aws import Clients
from deployctl.actions.builtin import register_aws
from deployctl.actions.registry import default_registry
from deployctl.cli import main
from deployctl.commands._load import load_plan
from deployctl.errors import UserError
from deployctl.plan.api import Plan, Step
from deployctl.stepfunctions import asl, iam
from deployctl.testing.aws import REGION

CASES = Path(__file__).resolve().parents[1] / "cases"
STATE_TYPES = {"Task", "Pass", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"}


def compiled(path: Path | str, *variables: str) -> Plan:
    ns = argparse.Namespace(var=list(variables), vars_file=[], region=None, allow_path=[])
    return load_plan(str(path), ns)


def check_shape(definition: Mapping[str, Any], where: str = "") -> None:
    """The ASL rules a definition must keep (what CreateStateMachine validates)."""
    states = definition["States"]
    assert definition["StartAt"] in states, where
    targets = []
    for name, state in states.items():
        assert len(name) <= 80, name
        kind = state["Type"]
        assert kind in STATE_TYPES, (name, kind)
        if kind in ("Choice", "Succeed", "Fail"):
            assert "Next" not in state and "End" not in state, name
        else:
            assert ("Next" in state) != bool(state.get("End")), f"{name}: one of Next/End"
            targets.append(state.get("Next"))
        if kind == "Choice":
            assert state["Choices"], name
            targets += [c["Next"] for c in state["Choices"]] + [state.get("Default")]
        if kind == "Task":
            assert state["Resource"].startswith("arn:aws:states:::"), name
        if kind == "Wait" and "SecondsPath" not in state:  # a drain's delay, read at run time
            assert isinstance(state["Seconds"], int) and state["Seconds"] >= 0, name
        if kind == "Parallel":
            for branch in state["Branches"]:
                check_shape(branch, name)
        targets += [c["Next"] for c in state.get("Catch", ())]
    for target in targets:
        assert target is None or target in states, f"{where}: no state {target!r}"
    # every state is reachable from StartAt
    seen, todo = set(), [definition["StartAt"]]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        state = states[name]
        nexts = [state.get("Next"), state.get("Default")]
        nexts += [c["Next"] for c in state.get("Choices", ())]
        nexts += [c["Next"] for c in state.get("Catch", ())]
        todo += [n for n in nexts if n]
    assert seen == set(states), set(states) - seen


def test_export_lambda_canary_validates_against_the_asl_shape(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["export", str(CASES / "lambda-canary" / "plan.yaml")]) == 0
    out, err = capsys.readouterr()
    definition = json.loads(out)
    check_shape(definition)
    resources = {s.get("Resource") for s in definition["States"].values()}
    assert "arn:aws:states:::aws-sdk:lambda:updateAlias" in resources
    assert "arn:aws:states:::aws-sdk:cloudwatch:describeAlarms" in resources
    # a 5-minute bake checked every 30 s: a Wait of 30 s in a loop of 10
    assert definition["States"]["us-east-1/canary/stage-1/analysis wait"]["Seconds"] == 30
    assert "state transitions per healthy run" in err and "deployctl-demo-prod" in err


def test_export_iam_policy_allows_exactly_the_calls_the_machine_makes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert (
        main(["export", str(CASES / "lambda-canary" / "plan.yaml"), "--format", "iam-policy"]) == 0
    )
    policy = json.loads(capsys.readouterr().out)
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert actions == {
        "lambda:GetAlias",
        "lambda:PublishVersion",
        "lambda:UpdateAlias",
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:DescribeAlarms",
        "dynamodb:UpdateItem",  # the last states free a DynamoDB lock
    }


def test_gate_alarms_use_metric_math_for_ratios() -> None:
    machine = asl.translate(compiled(CASES / "lambda-canary" / "plan.yaml"))
    put = machine.definition["States"]["us-east-1/canary/stage-1/analysis alarm 0"]
    metrics = put["Parameters"]["Metrics"]
    assert [m["Id"] for m in metrics] == ["n", "d", "v"]
    assert metrics[2]["Expression"] == "(n/d)"
    assert put["Parameters"]["Threshold"] == 0.01
    dims = metrics[0]["MetricStat"]["Metric"]["Dimensions"]
    # ${new_version} is only known at run time: read from the publish step's output
    assert {"Name": "ExecutedVersion", "Value.$": "$.o.s0.new_version"} in dims
    assert [a.text for a in machine.alarms][:2] == ["ErrorRate <= 0.01", "ErrorRate>5%"]


def test_cli_refuses_a_local_command_step_by_id(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(CASES / "migration" / "plan.yaml")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "us-east-1/migration/snapshot (rds.snapshot) cannot run on Step Functions" in err


def test_flags_in_appconfig_are_refused_by_step_id() -> None:
    """Only SSM flags are translated: an AppConfig write needs a deployment to wait on."""
    with pytest.raises(asl.Unsupported) as info:
        asl.translate(compiled(CASES / "feature-flags" / "plan.yaml"))
    assert "step us-east-1/flags/new-feature/set (flag.set) cannot run" in str(info.value)


def _builtin_kinds() -> list[str]:
    registry = default_registry(plugins=False)
    register_aws(registry, Clients(region=REGION))
    return sorted(registry.kinds())


@pytest.mark.parametrize("kind", _builtin_kinds())
def test_every_builtin_kind_is_translated_or_refused_by_id(kind: str) -> None:
    base = compiled(CASES / "lambda-canary" / "plan.yaml")
    if kind in asl.TRANSLATED:
        # each translated kind runs on moto in test_equivalence (flag.set: SSM flags)
        others = {"lambda.invoke", "smoke.lambda", "approval", "flag.set"}
        others |= {"alb.discover", "alb.shift", "alb.drain"}  # ALB cases
        others |= {"route53.discover", "route53.shift"}  # Route 53 cases
        others.add("cloudformation.deploy")
        # plans/fraud-or-not.yaml
        others |= {"cloudwatch.alarms", "lambda.update_code", "lambda.cleanup_versions"}
        assert kind in {s.kind for s in base.steps} | others
        return
    odd = Step(id=f"us-east-1/odd/{kind}", kind=kind, description="x", region=REGION)
    plan = Plan(
        kind=base.kind,
        project=base.project,
        environment=base.environment,
        source="p.yaml",
        steps=(*base.steps, odd),
        metrics=base.metrics,
    )
    with pytest.raises(asl.Unsupported) as info:
        asl.translate(plan)
    message = str(info.value)
    assert f"step us-east-1/odd/{kind} ({kind}) cannot run on Step Functions" in message
    assert "p.yaml: step" in message
    if kind in ("command.run", "smoke.http"):
        assert "Lambda" in message  # the alternative


def test_approval_smoke_and_invoke_translate(tmp_path: Path) -> None:
    base = compiled(CASES / "lambda-canary" / "plan.yaml")
    publish, shift = base.steps[0], base.steps[1]
    smoke = Step(
        id="us-east-1/smoke",
        kind="smoke.lambda",
        description="x",
        region=REGION,
        deps=(publish.id,),
        params={"function": "api", "qualifier": "${new_version}", "expect": {"ok": True}},
        mutating=False,
    )
    gate = Step(
        id="us-east-1/approve",
        kind="approval",
        description="x",
        region=REGION,
        deps=(smoke.id,),
        params={"reason": "r"},
        mutating=False,
    )
    moved = Step(**{**shift.__dict__, "deps": (gate.id,)})
    plan = Plan(
        kind=base.kind,
        project="demo",
        environment="prod",
        source="p.yaml",
        steps=(publish, smoke, gate, moved),
        metrics=base.metrics,
    )
    machine = asl.translate(plan)
    check_shape(machine.definition)
    states = machine.definition["States"]
    assert states["us-east-1/smoke"]["Parameters"]["Qualifier.$"] == "$.o.s0.new_version"
    assert states["us-east-1/smoke"]["Resource"] == "arn:aws:states:::lambda:invoke"
    assert "lambda:InvokeFunction" in {
        a for s in iam.policy(machine)["Statement"] for a in s["Action"]
    }
    approval = states["us-east-1/approve"]
    assert approval["Resource"].endswith("ssm:putParameter.waitForTaskToken")
    assert approval["Parameters"]["Value.$"] == "$$.Task.Token"
    assert "/deployctl/demo/prod/{}/approval/s2" in approval["Parameters"]["Name.$"]
    assert machine.approvals == {"us-east-1/approve": "s2"}


def test_parallel_branches_become_a_parallel_state() -> None:
    """Two independent canaries (the shape of two regions): one Parallel state,
    a branch each, and a failed branch reaches the rollback path with its record."""
    base = compiled(CASES / "lambda-canary" / "plan.yaml")

    def moved(step: Step, region: str) -> Step:
        rename = {s.id: s.id.replace("us-east-1", region) for s in base.steps}
        return Step(
            **{
                **step.__dict__,
                "id": rename[step.id],
                "region": region,
                "deps": tuple(rename[d] for d in step.deps),
            }
        )

    steps = (*base.steps, *(moved(s, "eu-west-1") for s in base.steps))
    plan = Plan(
        kind=base.kind,
        project="demo",
        environment="prod",
        source="p.yaml",
        steps=steps,
        metrics=base.metrics,
    )
    machine = asl.translate(plan)
    check_shape(machine.definition)
    states = machine.definition["States"]
    parallel = [s for s in states.values() if s["Type"] == "Parallel"]
    assert len(parallel) == 1 and len(parallel[0]["Branches"]) == 2
    eu = parallel[0]["Branches"][1]["States"]["eu-west-1/canary/stage-1/shift"]
    assert eu["Parameters"]["FunctionVersion.$"] == "$.o.s7a.stable_version"  # its own region's
    assert eu["Catch"][0]["Next"] == "parallel s0 branch 1 failed"
    undo = states["eu-west-1/canary/stage-1/shift undo?"]["Choices"][0]
    assert undo["Variable"] == "$.par.s0[1].o.s8"


def test_policy_of_translated_plan_is_valid_json() -> None:
    policy = iam.policy(asl.translate(compiled(CASES / "lambda-canary" / "plan.yaml")))
    assert policy["Version"] == "2012-10-17"


ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(
    [*ROOT.glob("plans/*.yaml"), *(p for p in CASES.glob("*/plan.yaml") if "error-" not in str(p))]
)
# what must translate today: Lambda deployments, SSM flags, ALB and Route 53 blue/green
TRANSLATABLE = {
    "fraud-or-not-flags.yaml",
    "fraud-or-not.yaml",
    *(f"{name}/plan.yaml" for name in ("lambda-all-at-once", "lambda-blue-green",
                                       "lambda-canary", "lambda-linear", "lambda-preset",
                                       "two-services", "vars-in-metadata", "vars-typed-values",
                                       "alb-all-at-once", "alb-blue-green", "alb-canary",
                                       "alb-linear", "alb-deploy-lambda", "route53-all-at-once",
                                       "route53-blue-green", "route53-canary",
                                       "route53-linear")),
}  # fmt: skip


# golden cases whose CloudFormation template is not in the case folder (plan only)
NO_TEMPLATE = {"cloudformation-all-at-once/plan.yaml"}


def case_plan(path: Path) -> Plan:
    """The plan as its golden case compiles it: with the case's options.json
    vars and vars files, when it has them."""
    options_file = path.parent / "options.json"
    if path.name != "plan.yaml" or not options_file.exists():
        return compiled(path)
    options = json.loads(options_file.read_text(encoding="utf-8"))
    ns = argparse.Namespace(
        var=[f"{k}={v}" for k, v in options.get("vars", {}).items()],
        vars_file=[str(path.parent / f) for f in options.get("vars_files", [])],
        region=None,
        allow_path=[],
    )
    return load_plan(str(path), ns)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_translatable_example_exports_a_valid_machine(path: Path) -> None:
    """Every example plan either becomes a definition of the ASL shape or is
    refused naming its first step that cannot run, with that step's kind."""
    plan = case_plan(path)
    name = f"{path.parent.name}/{path.name}" if path.name == "plan.yaml" else path.name
    if name in NO_TEMPLATE:
        # the stack's template goes into the definition: export reads it, as apply would
        with pytest.raises(UserError, match=r"template .*no such file"):
            asl.translate(plan)
        return
    try:
        machine = asl.translate(plan)
    except asl.Unsupported as refused:
        assert name not in TRANSLATABLE, str(refused)
        first = refused.steps[0]
        assert f"step {first.id} ({first.kind}) cannot run on Step Functions" in str(refused)
        return
    assert name in TRANSLATABLE, f"{name} translates now: add it to TRANSLATABLE"
    check_shape(machine.definition)
    assert machine.transitions()["healthy"] > len(plan.steps)


def _tasks(definition: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = []
    for state in definition["States"].values():
        if state["Type"] == "Task":
            found.append(state)
        for branch in state.get("Branches", ()):
            found += _tasks(branch)
        if "ItemProcessor" in state:
            found += _tasks(state["ItemProcessor"])
    return found


def _check_shape(shape: Any, value: Any, where: str) -> None:
    """``value`` (Parameters, ``.$`` keys computed at run time) fits botocore's ``shape``."""
    if shape.type_name == "structure" and isinstance(value, Mapping):
        for key, item in value.items():
            name = key.removesuffix(".$")
            assert name in shape.members, f"{where}: {name} is not a parameter"
            if not key.endswith(".$"):
                _check_shape(shape.members[name], item, f"{where}.{name}")
    elif shape.type_name == "list" and isinstance(value, list):
        for item in value:
            _check_shape(shape.member, item, f"{where}[]")


@pytest.mark.parametrize(
    "path", [CASES / f"{c}/plan.yaml" for c in ("alb-canary", "route53-canary")]
    + [ROOT / "tests/stepfunctions/cloudformation.yaml", ROOT / "plans/fraud-or-not.yaml"],
    ids=lambda p: p.parent.name if p.name == "plan.yaml" or p.parent.name != "plans" else p.stem,
)  # fmt: skip
def test_every_sdk_task_names_only_request_fields_botocore_knows(path: Path) -> None:
    """moto runs aws-sdk tasks with botocore's parameter validation off, so a
    misspelt field would pass there: check each task's Parameters against the
    service model (ELBv2 by its SDK integration name elasticloadbalancingv2)."""
    import botocore.session

    from deployctl.testing.stepfunctions import SDK_TO_BOTO

    session = botocore.session.get_session()
    tasks = _tasks(asl.translate(compiled(path)).definition)
    services = set()
    for task in tasks:
        resource = task["Resource"]
        if not resource.startswith("arn:aws:states:::aws-sdk:"):
            continue
        service, action = resource.removeprefix("arn:aws:states:::aws-sdk:").split(":")
        action = action.removesuffix(".waitForTaskToken")
        services.add(service)
        model = session.get_service_model(SDK_TO_BOTO.get(service, service))
        operation = model.operation_model(action[0].upper() + action[1:])
        _check_shape(operation.input_shape, task["Parameters"], resource)
    assert services & {"elasticloadbalancingv2", "route53", "cloudformation", "lambda"}


def test_update_code_waits_while_in_progress_and_refuses_a_local_zip() -> None:
    """moto's functions are always ``Successful``: the loop's shape is checked here."""
    import dataclasses

    plan = compiled(ROOT / "plans/fraud-or-not.yaml")
    states = asl.translate(plan).definition["States"]
    step = "us-east-1/deploy/update-code"
    updated = states[f"{step} updated?"]
    nexts = {c["And"][1]["StringEquals"]: c["Next"] for c in updated["Choices"]}
    assert nexts == {"InProgress": f"{step} wait", "Failed": f"{step} failed"}
    assert updated["Default"] == step  # Successful (or no status): done
    assert states[f"{step} wait"]["Next"] == f"{step} status"
    assert states[f"{step} failed"]["Next"] == "Rollback"
    zipped = [
        dataclasses.replace(s, params={**s.params, "code": {"zip_file": "build/a.zip"}})
        if s.id == step
        else s
        for s in plan.steps
    ]
    with pytest.raises(asl.Unsupported, match=f"step {step} \\(lambda.update_code\\)"):
        asl.translate(dataclasses.replace(plan, steps=tuple(zipped)))


def _alarm_puts(plan: Plan) -> list[dict[str, Any]]:
    states = asl.translate(plan).definition["States"]
    return [
        s["Parameters"]
        for s in states.values()
        if s.get("Resource", "").endswith(":putMetricAlarm")
    ]


def _with_gates(plan: Plan, **change: Any) -> Plan:
    """``plan`` with every gate's params changed (a value of None drops the key)."""

    def changed(s: Step) -> Step:
        params = {**s.params, **change}
        return dataclasses.replace(s, params={k: v for k, v in params.items() if v is not None})

    steps = [changed(s) if s.kind == "gate.analysis" else s for s in plan.steps]
    return dataclasses.replace(plan, steps=tuple(steps))


@pytest.mark.parametrize(
    ("missing_data", "treat"),
    [
        ("inconclusive", "breaching"),  # the manifest's default: no silent pass
        ("fail", "breaching"),  # a bad check, as on the local engine
        ("ignore", "missing"),  # INSUFFICIENT_DATA: not counted, as locally skipped
        (None, "breaching"),  # a hand-made or old stored plan without the key: fail
        ("breach", "breaching"),  # never a value; as locally, an unknown one is fail
    ],
)
def test_a_gate_treats_missing_data_as_the_local_engine_does(
    missing_data: str | None, treat: str
) -> None:
    plan = compiled(CASES / "lambda-canary" / "plan.yaml")
    assert {s.params["missing_data"] for s in plan.steps if s.kind == "gate.analysis"} == {
        "inconclusive"
    }
    puts = _alarm_puts(_with_gates(plan, missing_data=missing_data))
    assert puts
    assert {p["TreatMissingData"] for p in puts} == {treat}


def test_a_gate_reads_its_timing_from_its_typed_params() -> None:
    plan = _with_gates(
        compiled(CASES / "lambda-canary" / "plan.yaml"), duration=300.0, interval=60.0
    )
    plan = _with_gates(plan, failure_limit=2)
    states = asl.translate(plan, asl.Options(wait_scale=1.0)).definition["States"]
    gate = "us-east-1/canary/stage-1/analysis"
    assert states[f"{gate} wait"]["Seconds"] == 60
    assert states[f"{gate} done?"]["Choices"][0]["NumericLessThan"] == 5
    assert states[f"{gate} too bad?"]["Choices"][0]["NumericGreaterThan"] == 2


ALARMS = ROOT / "tests/stepfunctions/alarms.yaml"
GATES = ("us-east-1/canary/stage-1/analysis", "us-east-1/canary/stage-2/analysis",
         "us-east-1/monitor")  # fmt: skip


def test_a_gate_reads_the_alarms_it_watches_and_fails_at_once_on_alarm_or_a_missing_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """rollback.alarms (and a stage's alarms): on the local engine a gate fails when
    one is in ALARM or does not exist, whatever failure_limit says; so on Step Functions."""
    plan = _with_gates(compiled(ALARMS), failure_limit=2)
    assert {tuple(s.params["alarms"]) for s in plan.steps if s.kind == "gate.analysis"} == {
        ("team-prod-5xx",)
    }
    machine = asl.translate(plan)
    states = machine.definition["States"]
    check_shape(machine.definition)
    # the defect: the name was nowhere in the machine, and the gate passed while it fired
    assert json.dumps(machine.definition).count('"team-prod-5xx"') == len(GATES)
    assert machine.watched == {gate: ["team-prod-5xx"] for gate in GATES}
    for gate in GATES:
        read = states[f"{gate} watch"]
        assert read["Resource"] == "arn:aws:states:::aws-sdk:cloudwatch:describeAlarms"
        assert read["Parameters"] == {
            "AlarmNames": ["team-prod-5xx"],
            "AlarmTypes": ["MetricAlarm", "CompositeAlarm"],  # the local engine reads both
            "MaxRecords": 100,
        }
        # each check reads them: the loop goes wait -> ... -> watch -> ... -> done? -> wait
        name, seen = states[f"{gate} wait"]["Next"], []
        while name != f"{gate} done?" and len(seen) < 20:
            seen.append(name)
            name = states[name].get("Next") or states[name]["Default"]
        assert f"{gate} watch" in seen and f"{gate} watched?" in seen
        assert states[f"{gate} done?"]["Choices"][0]["Next"] == f"{gate} wait"
        watched = states[f"{gate} watched?"]
        missing, firing = (c["Next"] for c in watched["Choices"])
        assert watched["Choices"][0] == {
            "Not": {"Variable": f"$.g.{read['ResultPath'].split('.')[2]}.w.found",
                    "NumericEquals": 1},
            "Next": missing,
        }  # fmt: skip
        # straight to the rollback: not counted against failure_limit (2 here)
        for fail in (missing, firing):
            assert states[fail]["Next"] == "Rollback"
            assert states[fail]["Result"]["Error"] == asl.GATE_BREACH
        assert "ALARM" in states[firing]["Result"]["Cause"]
        assert "does not exist" in states[missing]["Result"]["Cause"]
        # INSUFFICIENT_DATA is no data: the missing_data policy (inconclusive: a bad check)
        bad = states[f"{gate} alarm?"]["Choices"][0]["Or"]
        assert {"Variable": f"{read['ResultPath']}.m.nodata", "BooleanEquals": True} in bad
    # moto does not validate an aws-sdk task's fields: botocore's model does
    import botocore.session

    model = botocore.session.get_session().get_service_model("cloudwatch")
    _check_shape(
        model.operation_model("DescribeAlarms").input_shape,
        states[f"{GATES[0]} watch"]["Parameters"],
        "describeAlarms",
    )
    # ignore: a watched alarm without data counts nothing
    ignoring = asl.translate(_with_gates(plan, missing_data="ignore")).definition["States"]
    assert "nodata" not in json.dumps(ignoring["us-east-1/monitor alarm?"])
    assert main(["export", str(ALARMS)]) == 0
    out, err = capsys.readouterr()
    assert out.count('"team-prod-5xx"') == 3
    assert "watching 1 existing alarm(s)" in err


def test_a_gate_that_only_watches_alarms_has_describe_alarms_in_its_policy() -> None:
    plan = _with_gates(compiled(ALARMS), metric=None, threshold=None, triggers=None)
    machine = asl.translate(plan)
    assert machine.alarms == []  # nothing to put: only the team's alarms to read
    states = machine.definition["States"]
    assert states["us-east-1/monitor watched?"]["Default"] == "us-east-1/monitor alarm?"
    actions = {a for s in iam.policy(machine)["Statement"] for a in s["Action"]}
    assert "cloudwatch:DescribeAlarms" in actions
    assert "cloudwatch:PutMetricAlarm" not in actions


def test_a_gate_watching_more_alarms_than_one_describe_alarms_reads_is_refused() -> None:
    plan = _with_gates(compiled(ALARMS), alarms=[f"a{n}" for n in range(101)])
    with pytest.raises(UserError, match="watches 101 alarms; a Step Functions gate reads at most"):
        asl.translate(plan)
    # a name given twice is read once (DescribeAlarms answers it once)
    twice = asl.translate(_with_gates(compiled(ALARMS), alarms=["x", "x"]))
    assert twice.definition["States"]["us-east-1/monitor watch"]["Parameters"]["AlarmNames"] == [
        "x"
    ]
