"""flag.set and its plan diff against SSM (moto) and AppConfig (botocore
Stubber: moto has no AppConfig environments or deployments, and no
AppConfigData)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from moto import mock_aws

from deployctl.actions.flagstore import FlagSet
from deployctl.core.plan import Step
from deployctl.core.ports import ResourceState, StepRequest
from deployctl.execute.observe import read_all
from deployctl.testing.clock import VirtualClock

SSM_STORE = {"kind": "ssm", "path": "/shop/prod/flags"}
APPCONFIG_STORE = {
    "kind": "appconfig",
    "application": "shop",
    "environment": "prod",
    "profile": "flags",
}
ON_50 = {"enabled": True, "percentage": 50, "allowlist": ["user1"]}


class Clients:
    """The smallest client factory: one session, one client per service."""

    def __init__(self, session: boto3.Session) -> None:
        self.session = session
        self.made: dict[str, Any] = {}

    def client(self, service: str, region: str | None) -> Any:
        if service not in self.made:
            self.made[service] = self.session.client(service, region_name=region or "us-east-1")
        return self.made[service]


def request(store: dict[str, Any], value: dict[str, Any], token: str = "tok-1") -> StepRequest:
    params = {"store": store, "flag": "new-feature", "value": value}
    step = Step("us-east-1/flags/new-feature/set", "flag.set", "set", params, region="us-east-1")
    return StepRequest(step, params, "run-1", 1, token, VirtualClock())


@pytest.fixture
def ssm() -> Iterator[Clients]:
    with mock_aws():
        yield Clients(boto3.Session(region_name="us-east-1"))


def stored(clients: Clients) -> Any:
    value = clients.client("ssm", None).get_parameter(Name="/shop/prod/flags/new-feature")[
        "Parameter"
    ]["Value"]
    return json.loads(value)


def test_ssm_apply_creates_the_flag_and_undo_deletes_what_it_created(ssm: Clients) -> None:
    action = FlagSet(ssm)
    outputs = action.apply(request(SSM_STORE, ON_50))
    assert outputs == {"previous": None, "value": ON_50}
    assert stored(ssm) == ON_50
    action.undo(request(SSM_STORE, ON_50), outputs)
    with pytest.raises(ssm.client("ssm", None).exceptions.ParameterNotFound):
        stored(ssm)


def test_ssm_undo_restores_the_exact_previous_value(ssm: Clients) -> None:
    before = {"enabled": False, "percentage": 7, "allowlist": ["ops"], "note": "kept by hand"}
    ssm.client("ssm", None).put_parameter(
        Name="/shop/prod/flags/new-feature", Value=json.dumps(before), Type="String"
    )
    action = FlagSet(ssm)
    outputs = action.apply(request(SSM_STORE, ON_50))
    assert outputs["previous"] == before
    action.undo(request(SSM_STORE, ON_50), outputs)
    assert stored(ssm) == before


def test_ssm_apply_twice_writes_once(ssm: Clients) -> None:
    action = FlagSet(ssm)
    action.apply(request(SSM_STORE, ON_50))
    second = action.apply(request(SSM_STORE, ON_50))
    history = ssm.client("ssm", None).get_parameter_history(Name="/shop/prod/flags/new-feature")[
        "Parameters"
    ]
    assert len(history) == 1
    assert second["previous"] == ON_50


def test_ssm_observe_after_a_crash_finds_the_value_before_our_write(ssm: Clients) -> None:
    before = {"enabled": False, "percentage": 0, "allowlist": []}
    ssm.client("ssm", None).put_parameter(
        Name="/shop/prod/flags/new-feature", Value=json.dumps(before), Type="String"
    )
    action = FlagSet(ssm)
    action.apply(request(SSM_STORE, ON_50, token="tok-crash"))  # the done record was never written
    seen = action.observe(request(SSM_STORE, ON_50, token="tok-crash"))
    assert seen.applied
    assert seen.outputs["previous"] == before
    # Someone else's identical value is "applied" too, but leaves nothing to undo.
    other = action.observe(request(SSM_STORE, ON_50, token="tok-other-run"))
    assert other.applied and other.outputs["previous"] == ON_50


def test_ssm_observe_reports_a_different_value_as_not_applied(ssm: Clients) -> None:
    ssm.client("ssm", None).put_parameter(
        Name="/shop/prod/flags/new-feature", Value='{"enabled": false}', Type="String"
    )
    seen = FlagSet(ssm).observe(request(SSM_STORE, ON_50))
    assert not seen.applied
    assert "enabled" in seen.detail


def _body(document: dict[str, Any]) -> StreamingBody:
    raw = json.dumps(document).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


def _expect_lookup(stub: Stubber) -> None:
    stub.add_response("list_applications", {"Items": [{"Id": "app1", "Name": "shop"}]}, {})
    stub.add_response(
        "list_environments", {"Items": [{"Id": "env1", "Name": "prod"}]}, {"ApplicationId": "app1"}
    )
    stub.add_response(
        "list_configuration_profiles",
        {"Items": [{"Id": "prof1", "Name": "flags"}]},
        {"ApplicationId": "app1"},
    )


def _expect_document(
    stub: Stubber, version: int, document: dict[str, Any], max_results: int = 1
) -> None:
    _expect_lookup(stub)
    stub.add_response(
        "list_hosted_configuration_versions",
        {"Items": [{"VersionNumber": version, "Description": "by hand"}]},
        {"ApplicationId": "app1", "ConfigurationProfileId": "prof1", "MaxResults": max_results},
    )
    stub.add_response(
        "get_hosted_configuration_version",
        {"Content": _body(document), "ContentType": "application/json", "VersionNumber": version},
        {"ApplicationId": "app1", "ConfigurationProfileId": "prof1", "VersionNumber": version},
    )


def test_stubber_appconfig_apply_creates_a_version_and_waits_for_the_deployment() -> None:
    client = boto3.Session(region_name="us-east-1").client("appconfig")
    stub = Stubber(client)
    other_flag = {"kill-switch": {"enabled": False}}
    _expect_document(stub, 4, other_flag)  # apply reads the previous value
    _expect_document(stub, 4, other_flag)  # and the document it rewrites
    stub.add_response(
        "create_hosted_configuration_version",
        {"VersionNumber": 5, "ApplicationId": "app1", "ConfigurationProfileId": "prof1"},
        {
            "ApplicationId": "app1",
            "ConfigurationProfileId": "prof1",
            "Content": json.dumps(
                {**other_flag, "new-feature": ON_50}, sort_keys=True, separators=(",", ":")
            ).encode(),
            "ContentType": "application/json",
            "Description": "deployctl tok-1",
        },
    )
    stub.add_response(
        "start_deployment",
        {"DeploymentNumber": 9, "State": "DEPLOYING"},
        {
            "ApplicationId": "app1",
            "EnvironmentId": "env1",
            "DeploymentStrategyId": "AppConfig.AllAtOnce",
            "ConfigurationProfileId": "prof1",
            "ConfigurationVersion": "5",
            "Description": ANY,
        },
    )
    for state in ("DEPLOYING", "BAKING", "COMPLETE"):
        stub.add_response(
            "get_deployment",
            {"State": state},
            {"ApplicationId": "app1", "EnvironmentId": "env1", "DeploymentNumber": 9},
        )

    class One:
        def client(self, service: str, region: str | None) -> Any:
            assert service == "appconfig"
            return client

    req = request(APPCONFIG_STORE, ON_50)
    with stub:
        outputs = FlagSet(One()).apply(req)
    stub.assert_no_pending_responses()
    assert outputs == {"previous": None, "value": ON_50}
    assert req.clock.slept == [5.0, 5.0]  # type: ignore[attr-defined]  # polled through the clock


def test_stubber_appconfig_failed_deployment_is_an_error() -> None:
    client = boto3.Session(region_name="us-east-1").client("appconfig")
    stub = Stubber(client)
    _expect_document(stub, 1, {})
    _expect_document(stub, 1, {})
    stub.add_response("create_hosted_configuration_version", {"VersionNumber": 2}, None)
    stub.add_response("start_deployment", {"DeploymentNumber": 3}, None)
    stub.add_response("get_deployment", {"State": "ROLLED_BACK"}, None)

    class One:
        def client(self, service: str, region: str | None) -> Any:
            return client

    with stub, pytest.raises(Exception, match="AppConfig deployment 3 ended ROLLED_BACK"):
        FlagSet(One()).apply(request(APPCONFIG_STORE, ON_50))


# --- the plan diff: one resource per flag, read in batches ------------------------------


def flag_request(store: dict[str, Any], flag: str, value: dict[str, Any]) -> StepRequest:
    params = {"store": store, "flag": flag, "value": value}
    step = Step(f"us-east-1/flags/{flag}/set", "flag.set", "set", params, region="us-east-1")
    return StepRequest(step, params, "run-1", 1, "tok-1", VirtualClock())


def read_flags(action: FlagSet, reqs: list[StepRequest]) -> dict[str, ResourceState]:
    """Through observe's reader: keys an action batches are read together."""
    jobs = {action.resources(r.step, r.params)[0]: (action, r.step, r.params) for r in reqs}
    return read_all(jobs)


def test_ssm_flags_of_a_region_are_read_ten_at_a_time(ssm: Clients) -> None:
    client = ssm.client("ssm", None)
    client.put_parameter(Name="/shop/prod/flags/f00", Value=json.dumps(ON_50), Type="String")
    seen: list[str] = []
    client.meta.events.register("before-call.ssm.*", lambda model, **_: seen.append(model.name))
    action = FlagSet(ssm)
    reqs = [flag_request(SSM_STORE, f"f{n:02}", ON_50) for n in range(12)]
    states = read_flags(action, reqs)
    assert seen == ["GetParameters", "GetParameters"]
    assert states["ssm-parameter us-east-1 /shop/prod/flags/f00"].state == ON_50
    assert states["ssm-parameter us-east-1 /shop/prod/flags/f11"].display == "(absent)"
    key = "ssm-parameter us-east-1 /shop/prod/flags/f00"
    assert not action.preview(reqs[0].step, reqs[0].params, {key: ON_50}).changes


def _expect_deployed(stub: Stubber, body: bytes) -> None:
    stub.add_response(
        "start_configuration_session",
        {"InitialConfigurationToken": "token-1"},
        {
            "ApplicationIdentifier": "shop",
            "EnvironmentIdentifier": "prod",
            "ConfigurationProfileIdentifier": "flags",
        },
    )
    stub.add_response(
        "get_latest_configuration",
        {
            "Configuration": StreamingBody(io.BytesIO(body), len(body)),
            "ContentType": "application/json",
            "VersionLabel": "4",
            "NextPollConfigurationToken": "token-2",
        },
        {"ConfigurationToken": "token-1"},
    )


class DataOnly:
    """Plan reads AppConfig through AppConfigData only: any other client fails the test."""

    def __init__(self, client: Any) -> None:
        self.data = client

    def client(self, service: str, region: str | None) -> Any:
        assert service == "appconfigdata"
        return self.data


def test_stubber_appconfig_flags_of_one_document_are_read_in_one_session() -> None:
    client = boto3.Session(region_name="us-east-1").client("appconfigdata")
    stub = Stubber(client)
    _expect_deployed(
        stub, json.dumps({"new-feature": ON_50, "kill-switch": {"enabled": False}}).encode()
    )
    action = FlagSet(DataOnly(client))
    off = {"enabled": False, "percentage": 0, "allowlist": []}
    reqs = [
        flag_request(APPCONFIG_STORE, "new-feature", ON_50),
        flag_request(APPCONFIG_STORE, "kill-switch", off),
        flag_request(APPCONFIG_STORE, "brand-new", off),
    ]
    with stub:
        states = read_flags(action, reqs)
    stub.assert_no_pending_responses()
    key = "appconfig-flag us-east-1 shop/prod/flags {}".format
    assert states[key("new-feature")].state == ON_50
    assert states[key("kill-switch")].display == '{"enabled":false}'
    assert states[key("brand-new")].display == "(absent)"
    previews = [
        action.preview(r.step, r.params, {k: s.state for k, s in states.items()}) for r in reqs
    ]
    assert [p.changes for p in previews] == [False, True, True]


def test_stubber_appconfig_with_nothing_deployed_shows_the_flag_absent() -> None:
    client = boto3.Session(region_name="us-east-1").client("appconfigdata")
    stub = Stubber(client)
    _expect_deployed(stub, b"")
    req = flag_request(APPCONFIG_STORE, "new-feature", ON_50)
    action = FlagSet(DataOnly(client))
    (key,) = action.resources(req.step, req.params)
    with stub:
        state = action.describe(req.step, req.params, key)
    assert (state.state, state.display) == (None, "(absent)")
