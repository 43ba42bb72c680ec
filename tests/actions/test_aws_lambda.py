"""Lambda actions against in-process moto: code, publish, alias shift, clean-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from deployctl.actions.aws import Clients
from deployctl.actions.lambda_ import register, target_state
from deployctl.core.ports import Registry
from deployctl.errors import ResourceChanged
from deployctl.testing.aws import REGION, Calls, code_zip, lambda_role, request

FN = "api-handler"


@pytest.fixture
def registry(clients: Clients) -> Registry:
    reg = Registry()
    register(reg, clients)
    return reg


@pytest.fixture
def lam(clients: Clients) -> Any:
    client = clients.client("lambda", REGION)
    client.create_function(
        FunctionName=FN,
        Runtime="python3.12",
        Role=lambda_role(clients),
        Handler="handler.main",
        Code={"ZipFile": code_zip("v1")},
    )
    return client


def publish_live(lam: Any) -> str:
    """Version 1 behind alias ``live``: the state before a deployment."""
    version = lam.publish_version(FunctionName=FN)["Version"]
    lam.create_alias(FunctionName=FN, Name="live", FunctionVersion=version)
    return str(version)


def alias(lam: Any) -> tuple[str, dict[str, float]]:
    got = lam.get_alias(FunctionName=FN, Name="live")
    return got["FunctionVersion"], (got.get("RoutingConfig") or {}).get(
        "AdditionalVersionWeights", {}
    )


def versions(lam: Any) -> list[str]:
    return [
        v["Version"]
        for v in lam.list_versions_by_function(FunctionName=FN)["Versions"]
        if v["Version"] != "$LATEST"
    ]


# --- update_code -------------------------------------------------------------------


def test_update_code_from_s3_changes_the_code_and_outputs_its_sha(
    registry: Registry, lam: Any, clients: Clients
) -> None:
    s3 = clients.client("s3", REGION)
    s3.create_bucket(Bucket="artifacts")
    s3.put_object(Bucket="artifacts", Key="v2.zip", Body=code_zip("v2"))
    before = lam.get_function(FunctionName=FN)["Configuration"]["CodeSha256"]
    out = registry.get("lambda.update_code").apply(
        request(
            "lambda.update_code",
            {"function": FN, "code": {"s3_bucket": "artifacts", "s3_key": "v2.zip"}},
        )
    )
    after = lam.get_function(FunctionName=FN)["Configuration"]["CodeSha256"]
    assert out == {"code_sha256": after}
    assert after != before


def test_update_code_observe_sees_an_s3_object_with_a_sha256_checksum(
    registry: Registry, lam: Any, clients: Clients
) -> None:
    s3 = clients.client("s3", REGION)
    s3.create_bucket(Bucket="artifacts")
    s3.put_object(Bucket="artifacts", Key="v2.zip", Body=code_zip("v2"), ChecksumAlgorithm="SHA256")
    req = request(
        "lambda.update_code",
        {"function": FN, "code": {"s3_bucket": "artifacts", "s3_key": "v2.zip"}},
    )
    action = registry.get("lambda.update_code")
    assert not action.observe(req).applied
    out = action.apply(req)
    seen = action.observe(req)
    assert seen.applied
    assert seen.outputs == out


def test_update_code_from_a_zip_file_round_trip_and_twice_is_one_update(
    registry: Registry, lam: Any, tmp_path: Path, calls: Calls
) -> None:
    path = tmp_path / "api.zip"
    path.write_bytes(code_zip("v2"))
    req = request("lambda.update_code", {"function": FN, "code": {"zip_file": str(path)}})
    action = registry.get("lambda.update_code")
    assert not action.observe(req).applied
    first = action.apply(req)
    second = action.apply(req)
    assert first == second
    assert action.observe(req).applied
    assert calls["UpdateFunctionCode"] == 1


# --- publish --------------------------------------------------------------------------


def test_publish_outputs_the_new_version_and_the_alias_primary_as_stable(
    registry: Registry, lam: Any
) -> None:
    publish_live(lam)
    lam.update_function_code(FunctionName=FN, ZipFile=code_zip("v2"))
    req = request("lambda.publish", {"function": FN, "alias": "live"})
    action = registry.get("lambda.publish")
    assert not action.observe(req).applied
    out = action.apply(req)
    revision = lam.get_alias(FunctionName=FN, Name="live")["RevisionId"]
    assert out == {"new_version": "2", "stable_version": "1", "alias_revision": revision}
    seen = action.observe(req)
    assert seen.applied
    assert seen.outputs == out


def test_publishing_twice_leaves_one_new_version(
    registry: Registry, lam: Any, calls: Calls
) -> None:
    publish_live(lam)
    lam.update_function_code(FunctionName=FN, ZipFile=code_zip("v2"))
    req = request("lambda.publish", {"function": FN, "alias": "live"})
    action = registry.get("lambda.publish")
    assert action.apply(req) == action.apply(req)
    assert calls["GetFunctionConfiguration"] == calls["ListVersionsByFunction"] == 0
    # Lambda answers a second PublishVersion of unchanged code with the same version.
    assert versions(lam) == ["1", "2"]


def test_publish_without_an_alias_yet_calls_the_new_version_stable(
    registry: Registry, lam: Any
) -> None:
    out = registry.get("lambda.publish").apply(
        request("lambda.publish", {"function": FN, "alias": "live"})
    )
    assert out == {"new_version": "1", "stable_version": "1", "alias_revision": ""}


# --- shift ------------------------------------------------------------------------------


def shift(weight: int) -> dict[str, Any]:
    return {
        "function": FN,
        "alias": "live",
        "new_version": "2",
        "stable_version": "1",
        "weight": weight,
    }


@pytest.fixture
def two_versions(lam: Any) -> Any:
    publish_live(lam)
    lam.update_function_code(FunctionName=FN, ZipFile=code_zip("v2"))
    lam.publish_version(FunctionName=FN)
    return lam


def test_target_state_promotes_at_100_and_keeps_stable_primary_below() -> None:
    assert target_state("2", "1", 10).weights == {"2": 0.1}
    assert target_state("2", "1", 10).version == "1"
    assert target_state("2", "1", 100).version == "2"
    assert target_state("2", "1", 100).weights == {}
    assert target_state("2", "2", 10).weights == {}


def test_shift_round_trip_sets_routing_weights_and_undo_restores_stable(
    registry: Registry, two_versions: Any
) -> None:
    action = registry.get("lambda.shift")
    req = request("lambda.shift", shift(10))
    assert not action.observe(req).applied
    action.apply(req)
    assert alias(two_versions) == ("1", {"2": 0.1})
    assert action.observe(req).applied
    action.undo(req, {})
    assert alias(two_versions) == ("1", {})
    assert not action.observe(req).applied


def test_shift_to_100_promotes_the_new_version_without_routing(
    registry: Registry, two_versions: Any
) -> None:
    action = registry.get("lambda.shift")
    action.apply(request("lambda.shift", shift(10)))
    req = request("lambda.shift", shift(100))
    action.apply(req)
    assert alias(two_versions) == ("2", {})
    assert action.observe(req).applied
    action.undo(req, {})
    assert alias(two_versions) == ("1", {})


def test_shifting_twice_makes_one_update_alias_call(
    registry: Registry, two_versions: Any, calls: Calls
) -> None:
    action = registry.get("lambda.shift")
    req = request("lambda.shift", shift(25))
    before = calls["UpdateAlias"]
    action.apply(req)
    action.apply(req)
    assert calls["UpdateAlias"] == before + 1
    action.undo(req, {})
    action.undo(req, {})
    assert calls["UpdateAlias"] == before + 2


def test_a_shift_chained_on_the_last_revision_does_not_read_the_alias(
    registry: Registry, two_versions: Any, calls: Calls
) -> None:
    revision = two_versions.get_alias(FunctionName=FN, Name="live")["RevisionId"]
    before = calls["GetAlias"]
    out = registry.get("lambda.shift").apply(
        request("lambda.shift", {**shift(25), "alias_revision": revision})
    )
    assert calls["GetAlias"] == before  # (the test's own reads come after this)
    assert alias(two_versions) == ("1", {"2": 0.25})
    assert out == {
        "alias_revision": two_versions.get_alias(FunctionName=FN, Name="live")["RevisionId"]
    }


WANT_25 = {
    "FunctionName": FN,
    "Name": "live",
    "FunctionVersion": "1",
    "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.25}},
}


def test_stubber_a_stale_revision_stops_the_step_naming_the_alias_and_writes_nothing(
    registry: Registry, clients: Any
) -> None:
    """The paused-holder case: the run that took the lock over promoted v2; the
    woken process's chained revision is stale, and a fresh one is never used."""
    # moto neither checks nor rotates RevisionId, so the refusal is stubbed.
    stub = Stubber(clients.client("lambda", "us-east-1"))
    stub.add_client_error(
        "update_alias",
        "PreconditionFailedException",
        http_status_code=412,
        expected_params={**WANT_25, "RevisionId": "stale"},
    )
    stub.add_response(
        "get_alias",
        {"FunctionVersion": "2", "RevisionId": "fresh", "Name": "live"},
        {"FunctionName": FN, "Name": "live"},
    )
    with stub, pytest.raises(ResourceChanged) as caught:
        registry.get("lambda.shift").apply(
            request("lambda.shift", {**shift(25), "alias_revision": "stale"})
        )
    stub.assert_no_pending_responses()  # one UpdateAlias, refused; no second one
    assert caught.value.exit_code == 5
    assert str(caught.value) == (
        "lambda-alias us-east-1 api-handler:live changed underneath this run: revision stale, "
        "as the last step left it -> v2 100%; nothing was sent"
    )


def test_stubber_a_stale_revision_with_the_alias_already_as_wanted_is_done(
    registry: Registry, clients: Any
) -> None:
    """This very update landed and its answer was lost: done, not stale."""
    stub = Stubber(clients.client("lambda", "us-east-1"))
    stub.add_client_error(
        "update_alias",
        "PreconditionFailedException",
        http_status_code=412,
        expected_params={**WANT_25, "RevisionId": "stale"},
    )
    stub.add_response(
        "get_alias",
        {
            "FunctionVersion": "1",
            "RevisionId": "mine",
            "Name": "live",
            "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.25}},
        },
        {"FunctionName": FN, "Name": "live"},
    )
    with stub:
        out = registry.get("lambda.shift").apply(
            request("lambda.shift", {**shift(25), "alias_revision": "stale"})
        )
    stub.assert_no_pending_responses()
    assert out == {"alias_revision": "mine"}


def test_shift_creates_a_missing_alias_on_the_target(registry: Registry, lam: Any) -> None:
    lam.publish_version(FunctionName=FN)
    params = {**shift(100), "new_version": "1", "stable_version": "1"}
    registry.get("lambda.shift").apply(request("lambda.shift", params))
    assert alias(lam) == ("1", {})


# --- cleanup ----------------------------------------------------------------------------


def test_cleanup_keeps_the_newest_and_every_version_an_alias_serves(
    registry: Registry, lam: Any
) -> None:
    for n in range(2, 8):  # versions 1..6; each publish needs different code
        lam.publish_version(FunctionName=FN)
        lam.update_function_code(FunctionName=FN, ZipFile=code_zip(f"v{n}"))
    lam.create_alias(
        FunctionName=FN,
        Name="live",
        FunctionVersion="2",
        RoutingConfig={"AdditionalVersionWeights": {"3": 0.1}},
    )
    lam.create_alias(FunctionName=FN, Name="old", FunctionVersion="1")
    req = request("lambda.cleanup_versions", {"function": FN, "alias": "live", "keep": 2})
    action = registry.get("lambda.cleanup_versions")
    assert not action.observe(req).applied
    assert action.apply(req) == {"deleted": ["4"]}
    assert versions(lam) == ["1", "2", "3", "5", "6"]
    assert action.observe(req).applied
    assert action.apply(req) == {"deleted": []}
