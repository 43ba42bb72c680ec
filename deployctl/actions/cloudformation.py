"""``cloudformation.deploy``: a stack update (or creation) through a change set.

The change set is created (UPDATE if the stack exists, CREATE otherwise),
waited for, its changes recorded in the outputs, executed, and waited for
again, all with botocore's waiters.  A change set with no changes is a
success.  The outputs keep the template and parameters the stack had, so
undo can deploy them again (a stack this step created is deleted instead).

The plan's rollback triggers also become CloudFormation's own: one
CloudWatch alarm each (created or updated first), passed as the change
set's ``RollbackConfiguration`` with ``MonitoringTimeInMinutes`` from
``rollback.monitoring_time``, so CloudFormation rolls the stack back by
itself when one fires while it deploys or monitors.  The undo re-deploy
carries no triggers: the alarms that fired must not stop it.  An undo that
finds the stack still updating cancels that update and waits for the
cancel's rollback.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from deployctl import files
from deployctl.actions.aws import Clients
from deployctl.actions.common import ActionError
from deployctl.core.kinds import StepKind
from deployctl.core.params import CloudFormationDeployParams
from deployctl.core.plan import Step
from deployctl.core.ports import Action, Observation, Preview, Registry, ResourceState, StepRequest
from deployctl.core.refs import is_unresolved
from deployctl.errors import UserError

MAX_BODY = 51_200  # bytes: larger templates must come from S3 (TemplateURL)
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
NOECHO = "****"  # what describe_stacks shows for a NoEcho parameter


def _body(template: Any) -> str:
    # boto3 hands back JSON templates already parsed.
    return template if isinstance(template, str) else json.dumps(template, indent=1)


def _params(stack: Mapping[str, Any]) -> dict[str, str]:
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack.get("Parameters") or ()}


def _change_set_name(prefix: str, token: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", f"deployctl-{prefix}-{token}")[:128]


class _Stack:
    def __init__(self, clients: Clients, step: Step, p: CloudFormationDeployParams) -> None:
        self.kind = step.kind
        self.name = str(p.stack)
        self.client = clients.client("cloudformation", step.region)

    def describe(self) -> dict[str, Any] | None:
        try:
            stacks = self.client.describe_stacks(StackName=self.name)["Stacks"]
        except ClientError as exc:
            if "does not exist" in str(exc):
                return None
            raise
        stack: dict[str, Any] = stacks[0]
        # A CREATE change set never executed leaves an empty stack: not a stack yet.
        return None if stack["StackStatus"] == "REVIEW_IN_PROGRESS" else stack

    def template(self) -> str:
        got = self.client.get_template(StackName=self.name, TemplateStage="Original")
        return _body(got["TemplateBody"])

    def deploy(
        self,
        body: str,
        params: Mapping[str, str],
        capabilities: list[str],
        name: str,
        exists: bool,
        rollback: Mapping[str, Any] | None = None,
    ) -> list[str]:
        """Change set -> wait -> execute -> wait; returns the changes (none: not executed)."""
        if len(body.encode()) > MAX_BODY:
            raise ActionError(self.kind, f"{self.name}: template over {MAX_BODY} bytes needs S3")
        parameters = [
            {"ParameterKey": k, "UsePreviousValue": True}
            if v == NOECHO
            else {"ParameterKey": k, "ParameterValue": str(v)}
            for k, v in sorted(params.items())
        ]
        args: dict[str, Any] = {
            "StackName": self.name,
            "ChangeSetName": name,
            "TemplateBody": body,
            "Parameters": parameters,
            "Capabilities": capabilities,
            "ChangeSetType": "UPDATE" if exists else "CREATE",
        }
        if rollback is not None:
            args["RollbackConfiguration"] = dict(rollback)
        try:
            made = self.client.create_change_set(**args)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "AlreadyExistsException":
                raise
            # Left by an attempt that died before executing it: start afresh.
            self.client.delete_change_set(StackName=self.name, ChangeSetName=name)
            made = self.client.create_change_set(**args)
        arn = made["Id"]
        try:
            self.client.get_waiter("change_set_create_complete").wait(
                ChangeSetName=arn, StackName=self.name
            )
        except WaiterError as exc:
            reason = str(self.client.describe_change_set(ChangeSetName=arn).get("StatusReason"))
            if any(text in reason for text in NO_CHANGES):
                self.client.delete_change_set(ChangeSetName=arn)
                return []
            raise ActionError(self.kind, f"{self.name}: change set failed: {reason}") from exc
        described = self.client.describe_change_set(ChangeSetName=arn)
        changes = [_change_text(c) for c in described.get("Changes") or ()]
        self.client.execute_change_set(ChangeSetName=arn)
        waiter = "stack_update_complete" if exists else "stack_create_complete"
        try:
            self.client.get_waiter(waiter).wait(StackName=self.name)
        except WaiterError as exc:
            status = (self.describe() or {}).get("StackStatus", "gone")
            raise ActionError(self.kind, f"{self.name}: stack ended in {status}") from exc
        return changes or ["(the change set lists no resource changes)"]

    def preview_changes(
        self, body: str, params: Mapping[str, str], capabilities: list[str], name: str
    ) -> list[str]:
        """Create a change set, list its changes, delete it (and the empty
        REVIEW_IN_PROGRESS stack a CREATE change set leaves).  Never executed."""
        exists = self.describe() is not None
        args: dict[str, Any] = {
            "StackName": self.name,
            "ChangeSetName": name,
            "TemplateBody": body,
            "Parameters": [
                {"ParameterKey": k, "UsePreviousValue": True}
                if v == NOECHO
                else {"ParameterKey": k, "ParameterValue": str(v)}
                for k, v in sorted(params.items())
            ],
            "Capabilities": capabilities,
            "ChangeSetType": "UPDATE" if exists else "CREATE",
        }
        arn = self.client.create_change_set(**args)["Id"]
        try:
            try:
                self.client.get_waiter("change_set_create_complete").wait(
                    ChangeSetName=arn, StackName=self.name
                )
            except WaiterError:
                reason = str(self.client.describe_change_set(ChangeSetName=arn).get("StatusReason"))
                if any(text in reason for text in NO_CHANGES):
                    return []
                return [f"(change set failed: {reason})"]
            described = self.client.describe_change_set(ChangeSetName=arn)
            return [_change_text(c) for c in described.get("Changes") or ()]
        finally:
            self.client.delete_change_set(ChangeSetName=arn)
            if not exists:
                self.client.delete_stack(StackName=self.name)


ALARM_OPS = {
    ">": "GreaterThanThreshold",
    ">=": "GreaterThanOrEqualToThreshold",
    "<": "LessThanThreshold",
    "<=": "LessThanOrEqualToThreshold",
}


def _metric_stat(q: Mapping[str, Any]) -> dict[str, Any]:
    dims = [{"Name": k, "Value": str(v)} for k, v in sorted(q["dimensions"].items())]
    return {
        "Metric": {"Namespace": q["namespace"], "MetricName": q["metric"], "Dimensions": dims},
        "Period": int(q["period"]),
        "Stat": q["stat"],
    }


def alarm_request(stack: str, alarm: Mapping[str, Any]) -> dict[str, Any]:
    """``put_metric_alarm`` arguments for one rollback trigger: a plain metric
    alarm for a single query, a metric-math alarm (numerator / denominator)
    for a ratio."""
    metric = alarm["metric"]
    args: dict[str, Any] = {
        "AlarmName": alarm["name"],
        "AlarmDescription": f"deployctl rollback trigger {alarm['trigger']} of stack {stack}",
        "EvaluationPeriods": 1,
        "Threshold": float(alarm["threshold"]),
        "ComparisonOperator": ALARM_OPS[alarm["op"]],
        "TreatMissingData": "missing",
    }
    q = metric.get("query")
    if q is not None:
        stat = _metric_stat(q)
        args |= {
            "Namespace": q["namespace"],
            "MetricName": q["metric"],
            "Dimensions": stat["Metric"]["Dimensions"],
            "Period": stat["Period"],
        }
        key = "ExtendedStatistic" if str(q["stat"]).startswith("p") else "Statistic"
        return args | {key: q["stat"]}
    return args | {
        "Metrics": [
            {"Id": "num", "MetricStat": _metric_stat(metric["numerator"]), "ReturnData": False},
            {"Id": "den", "MetricStat": _metric_stat(metric["denominator"]), "ReturnData": False},
            {
                "Id": "ratio",
                "Expression": "num / den",
                "Label": alarm["trigger"],
                "ReturnData": True,
            },
        ]
    }


def rollback_configuration(
    clients: Clients, step: Step, p: CloudFormationDeployParams
) -> dict[str, Any] | None:
    """Create or update the trigger alarms; the ``RollbackConfiguration`` naming them."""
    alarms = list(p.rollback_alarms or ())
    minutes = int(p.monitoring_minutes or 0)
    if not alarms and not minutes:
        return None
    arns: dict[str, str] = {}
    if alarms:
        cw = clients.client("cloudwatch", step.region)
        for alarm in alarms:
            cw.put_metric_alarm(**alarm_request(str(p.stack), alarm))
        names = [str(a["name"]) for a in alarms]
        found = cw.describe_alarms(AlarmNames=names, AlarmTypes=["MetricAlarm"])["MetricAlarms"]
        arns = {a["AlarmName"]: a["AlarmArn"] for a in found}
    return {
        "RollbackTriggers": [
            {"Arn": arns[a["name"]], "Type": "AWS::CloudWatch::Alarm"} for a in alarms
        ],
        "MonitoringTimeInMinutes": minutes,
    }


def _settled(stack: Mapping[str, Any]) -> bool:
    """Created or updated successfully, and not rolled back."""
    status = str(stack["StackStatus"])
    return status in ("CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE")


def _change_text(change: Mapping[str, Any]) -> str:
    rc = change.get("ResourceChange") or {}
    text = f"{rc.get('Action')} {rc.get('ResourceType')} {rc.get('LogicalResourceId')}"
    if rc.get("Replacement") not in (None, "False"):
        text += f" (replacement: {rc['Replacement']})"
    return text


def _wanted(step: Step, p: CloudFormationDeployParams) -> tuple[str, dict[str, str], list[str]]:
    try:
        body = files.read(str(p.template), files.MAX_TEMPLATE_BYTES, "template").decode("utf-8")
    except (UserError, UnicodeDecodeError) as exc:
        raise ActionError(step.kind, f"template {p.template}: {exc}") from exc
    params = {str(k): str(v) for k, v in (p.parameters or {}).items()}
    return body, params, list(p.capabilities or ())


def _sha(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def _stack_display(state: Mapping[str, Any] | None) -> str:
    if state is None:
        return "(no stack)"
    params = ", ".join(f"{k}={v}" for k, v in sorted(state["parameters"].items()))
    sha = state["template_sha256"]
    template = f"template {sha[:10]}" if sha else "template not read"
    return f"{state['status']}; {params or 'no parameters'}; {template}"


class Deploy(Action):
    """Outputs ``stack_id``, ``changes``, ``previous_template`` and
    ``previous_parameters`` (None for a stack this step created), and any
    ``rollback_triggers`` of the plan (watched by a later issue)."""

    def __init__(self, clients: Clients) -> None:
        self.clients = clients

    def _wanted(self, request: StepRequest) -> tuple[str, dict[str, str], list[str]]:
        return _wanted(request.step, CloudFormationDeployParams.from_params(request.params))

    def _stack(self, request: StepRequest) -> _Stack:
        p = CloudFormationDeployParams.from_params(request.params)
        return _Stack(self.clients, request.step, p)

    def _live(self, stack: _Stack, body: str, params: Mapping[str, str]) -> dict[str, Any] | None:
        """The stack if it already runs exactly this template and these parameters."""
        found = stack.describe()
        if found is None or not _settled(found):
            return None
        return found if _params(found) == dict(params) and stack.template() == body else None

    # -- the plan diff: DescribeStacks, and GetTemplate only when the template
    # decides (the stack is settled and already has the wanted parameters;
    # otherwise the step changes the stack whatever its template).  No change
    # set: plan would need write rights, create a REVIEW_IN_PROGRESS stack for
    # a new one, and poll; no digest in a stack tag: stack tags are copied to
    # every resource, so each deploy would touch them all.

    def resources(self, step: Step, params: Mapping[str, Any]) -> tuple[str, ...]:
        p = CloudFormationDeployParams.from_params(params)
        return (f"cloudformation-stack {step.region} {p.stack}",)

    def describe(self, step: Step, params: Mapping[str, Any], key: str) -> ResourceState:
        p = CloudFormationDeployParams.from_params(params)
        stack = _Stack(self.clients, step, p)
        found = stack.describe()
        if found is None:
            return ResourceState(key, None, _stack_display(None))
        live = _params(found)
        wanted = {str(k): str(v) for k, v in (p.parameters or {}).items()}
        decides = _settled(found) and live == wanted
        state = {
            "status": found["StackStatus"],
            "parameters": live,
            "template_sha256": _sha(stack.template()) if decides else None,
        }
        return ResourceState(key, state, _stack_display(state))

    def preview(self, step: Step, params: Mapping[str, Any], states: Mapping[str, Any]) -> Preview:
        key = self.resources(step, params)[0]
        body, wanted, _ = _wanted(step, CloudFormationDeployParams.from_params(params))
        live = states[key]
        after = {
            "status": "UPDATE_COMPLETE" if live else "CREATE_COMPLETE",
            "parameters": wanted,
            "template_sha256": _sha(body),
        }
        same = (
            live is not None
            and _settled({"StackStatus": live["status"]})
            and live["parameters"] == wanted
            and live["template_sha256"] == after["template_sha256"]
        )
        return Preview(
            _stack_display(live if same else after), not same, {} if same else {key: after}
        )

    def change_set(self, step: Step, params: Mapping[str, Any]) -> list[str] | None:
        p = CloudFormationDeployParams.from_params(params)
        body, wanted, capabilities = _wanted(step, p)
        if any(is_unresolved(v) for v in wanted.values()):
            return ["(parameters known only during the run: no change set)"]
        stack = _Stack(self.clients, step, p)
        name = _change_set_name("plan", _sha(body + json.dumps(wanted, sort_keys=True))[:16])
        return stack.preview_changes(body, wanted, capabilities, name) or ["no changes"]

    def observe(self, request: StepRequest) -> Observation:
        body, params, _ = self._wanted(request)
        found = self._live(self._stack(request), body, params)
        if found is None:
            return Observation(applied=False)
        return Observation(
            applied=True,
            outputs=self._outputs(request, found["StackId"]),
            detail="stack runs this template and these parameters",
        )

    def _outputs(self, request: StepRequest, stack_id: str, **more: Any) -> dict[str, Any]:
        out = {"stack_id": stack_id, **more}
        triggers = CloudFormationDeployParams.from_params(request.params).rollback_triggers
        if triggers:
            out["rollback_triggers"] = list(triggers)
        return out

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        body, params, capabilities = self._wanted(request)
        stack = self._stack(request)
        found = stack.describe()
        previous_template = stack.template() if found else None
        previous_params = _params(found) if found else None
        if found and _settled(found) and (previous_params, previous_template) == (params, body):
            return self._outputs(
                request,
                found["StackId"],
                changes=[],
                previous_template=body,
                previous_parameters=params,
            )
        if found and found["StackStatus"] == "ROLLBACK_COMPLETE":
            raise ActionError(
                request.step.kind,
                f"{stack.name} failed to create earlier (ROLLBACK_COMPLETE): delete it, then retry",
            )
        name = _change_set_name("deploy", request.token)
        p = CloudFormationDeployParams.from_params(request.params)
        rollback = rollback_configuration(self.clients, request.step, p)
        changes = stack.deploy(
            body, params, capabilities, name, exists=found is not None, rollback=rollback
        )
        after = stack.describe()
        return self._outputs(
            request,
            after["StackId"] if after else "",
            changes=changes,
            previous_template=previous_template,
            previous_parameters=previous_params,
        )

    def undo(self, request: StepRequest, outputs: Mapping[str, Any]) -> None:
        stack = self._stack(request)
        live = stack.describe()
        if live is None:
            return
        if live["StackStatus"] == "UPDATE_IN_PROGRESS":
            # Cut off mid-update (an interrupt, a crash): CloudFormation's own
            # rollback puts the old template back; then re-deploy as usual.
            stack.client.cancel_update_stack(StackName=stack.name)
            stack.client.get_waiter("stack_rollback_complete").wait(StackName=stack.name)
        if "previous_template" in outputs and outputs["previous_template"] is None:
            stack.client.delete_stack(StackName=stack.name)
            stack.client.get_waiter("stack_delete_complete").wait(StackName=stack.name)
            return
        if not outputs.get("previous_template"):
            raise ActionError(
                request.step.kind,
                f"{stack.name}: the previous template was not recorded; re-deploy it by hand",
            )
        stack.deploy(
            str(outputs["previous_template"]),
            dict(outputs.get("previous_parameters") or {}),
            list(CloudFormationDeployParams.from_params(request.params).capabilities or ()),
            _change_set_name("undo", request.token),
            exists=True,
        )


def register(registry: Registry, clients: Clients) -> None:
    registry.register(StepKind.CLOUDFORMATION_DEPLOY, Deploy(clients))
