"""``cloudformation.deploy`` against in-process moto: create, update through a
change set, no-change deploys, and undo back to the previous template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deployctl.actions.aws import Clients
from deployctl.actions.cloudformation import register
from deployctl.actions.common import ActionError
from deployctl.core.ports import Registry
from deployctl.testing.aws import REGION, Calls, request

TEMPLATE = Path(__file__).parents[2] / "plans" / "templates" / "media-register.yaml"
STACK = "media-register-prod-green"


@pytest.fixture
def registry(clients: Clients) -> Registry:
    reg = Registry()
    register(reg, clients)
    return reg


def deploy(version: str, template: Path = TEMPLATE, **extra: Any) -> Any:
    return request(
        "cloudformation.deploy",
        {
            "stack": STACK,
            "template": str(template),
            "capabilities": ["CAPABILITY_IAM"],
            "parameters": {"Color": "green", "Version": version},
            **extra,
        },
    )


def ssm_version(clients: Clients) -> str:
    got = clients.client("ssm", REGION).get_parameter(Name=f"/{STACK}/version")
    return str(got["Parameter"]["Value"])


def stack(clients: Clients) -> dict[str, Any]:
    found: dict[str, Any] = clients.client("cloudformation", REGION).describe_stacks(
        StackName=STACK
    )["Stacks"][0]
    return found


def test_deploy_creates_a_missing_stack_and_undo_deletes_it(
    registry: Registry, clients: Clients
) -> None:
    action = registry.get("cloudformation.deploy")
    req = deploy("1.0")
    assert not action.observe(req).applied
    out = action.apply(req)
    assert stack(clients)["StackStatus"] == "CREATE_COMPLETE"
    assert out["stack_id"] == stack(clients)["StackId"]
    assert out["previous_template"] is None
    assert ssm_version(clients) == "1.0"
    assert action.observe(req).applied
    action.undo(req, out)
    with pytest.raises(clients.client("cloudformation", REGION).exceptions.ClientError):
        stack(clients)


def with_extra(tmp_path: Path) -> Path:
    bigger = tmp_path / "t.yaml"
    bigger.write_text(
        TEMPLATE.read_text().replace(
            "Outputs:",
            """  Extra:
    Type: AWS::SSM::Parameter
    Properties: {Name: /media-register/extra, Type: String, Value: x}
Outputs:""",
        )
    )
    return bigger


def test_update_round_trip_records_changes_and_undo_redeploys_the_previous(
    registry: Registry, clients: Clients, tmp_path: Path
) -> None:
    # The update changes the template too: moto compares a change set's
    # parameters with the ones the stack was *created* with, so undoing a
    # parameter-only update looks like "no changes" to it.
    action = registry.get("cloudformation.deploy")
    action.apply(deploy("1.0"))
    req = deploy("2.0", template=with_extra(tmp_path), rollback_triggers=["ErrorRate>5%"])
    assert not action.observe(req).applied
    out = action.apply(req)
    assert ssm_version(clients) == "2.0"
    assert stack(clients)["StackStatus"] == "UPDATE_COMPLETE"
    assert out["previous_parameters"] == {"Color": "green", "Version": "1.0"}
    assert out["previous_template"] == TEMPLATE.read_text()
    assert out["rollback_triggers"] == ["ErrorRate>5%"]
    assert out["changes"] == ["Add AWS::SSM::Parameter Extra"]
    assert action.observe(req).applied
    action.undo(req, out)
    assert ssm_version(clients) == "1.0"
    assert not action.observe(req).applied


def test_deploying_twice_executes_one_change_set(
    registry: Registry, clients: Clients, calls: Calls
) -> None:
    action = registry.get("cloudformation.deploy")
    first = action.apply(deploy("1.0"))
    second = action.apply(deploy("1.0"))
    assert calls["ExecuteChangeSet"] == 1
    assert second["stack_id"] == first["stack_id"]
    assert second["changes"] == []


def test_a_change_set_without_changes_is_a_success(
    registry: Registry, clients: Clients, tmp_path: Path
) -> None:
    """Same parameters, template differing only in a comment: CloudFormation
    finds nothing to change and fails the change set, which is not an error."""
    action = registry.get("cloudformation.deploy")
    action.apply(deploy("1.0"))
    commented = tmp_path / "t.yaml"
    commented.write_text(TEMPLATE.read_text() + "# a comment\n")
    out = action.apply(deploy("1.0", template=commented))
    assert out["changes"] == []


def test_a_missing_template_is_a_clear_error(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(ActionError, match="template"):
        registry.get("cloudformation.deploy").apply(deploy("1.0", template=tmp_path / "no.yaml"))


# --- the plan diff ------------------------------------------------------------------


def diff(registry: Registry, req: Any) -> tuple[Any, Any]:
    action = registry.get("cloudformation.deploy")
    (key,) = action.resources(req.step, req.params)
    state = action.describe(req.step, req.params, key)
    return state, action.preview(req.step, req.params, {key: state.state})


def test_diff_of_a_missing_stack_is_one_describe_and_a_creation(
    registry: Registry, calls: Calls
) -> None:
    state, preview = diff(registry, deploy("1.0"))
    assert (state.state, state.display) == (None, "(no stack)")
    assert preview.changes
    assert preview.after.startswith("CREATE_COMPLETE; Color=green, Version=1.0; template ")
    assert dict(calls.seen) == {"DescribeStacks": 1}


def test_diff_skips_the_template_when_the_parameters_already_differ(
    registry: Registry, clients: Clients, calls: Calls
) -> None:
    registry.get("cloudformation.deploy").apply(deploy("1.0"))
    calls.seen.clear()
    state, preview = diff(registry, deploy("2.0"))
    assert state.display == "CREATE_COMPLETE; Color=green, Version=1.0; template not read"
    assert preview.changes
    assert dict(calls.seen) == {"DescribeStacks": 1}


def test_diff_reads_the_template_when_only_it_can_tell(
    registry: Registry, clients: Clients, calls: Calls, tmp_path: Path
) -> None:
    registry.get("cloudformation.deploy").apply(deploy("1.0"))
    calls.seen.clear()
    state, preview = diff(registry, deploy("1.0"))
    assert dict(calls.seen) == {"DescribeStacks": 1, "GetTemplate": 1}
    assert state.state["template_sha256"] is not None
    assert not preview.changes
    _, preview = diff(registry, deploy("1.0", template=with_extra(tmp_path)))
    assert preview.changes


def test_a_change_set_preview_lists_the_changes_and_leaves_nothing_behind(
    registry: Registry, clients: Clients, calls: Calls, tmp_path: Path
) -> None:
    action = registry.get("cloudformation.deploy")
    cfn = clients.client("cloudformation", REGION)
    req = deploy("1.0")
    created = action.change_set(req.step, req.params)
    assert created is not None and any(c.startswith("Add AWS::SSM::Parameter") for c in created)
    # the empty stack a CREATE change set makes is gone again, nothing was executed
    assert STACK not in [
        s["StackName"]
        for s in cfn.list_stacks()["StackSummaries"]
        if s["StackStatus"] != "DELETE_COMPLETE"
    ]
    action.apply(req)
    before = stack(clients).get("LastUpdatedTime", None)
    bigger = deploy("1.0", with_extra(tmp_path))
    updated = action.change_set(bigger.step, bigger.params)
    assert updated == ["Add AWS::SSM::Parameter Extra"]
    left = [c["ChangeSetName"] for c in cfn.list_change_sets(StackName=STACK)["Summaries"]]
    assert not [n for n in left if n.startswith("deployctl-plan-")]  # deleted after reading
    assert stack(clients).get("LastUpdatedTime") == before  # the stack was not touched
    assert calls["CreateChangeSet"] == 3 and calls["DeleteChangeSet"] == 2  # 2 previews + apply
    assert calls["ExecuteChangeSet"] == 1  # the apply's only
