"""``lambda.invoke`` and ``smoke.lambda``.  moto's docker-less Lambda always
succeeds (answers come from a queue), so a handler error (``FunctionError``
with status 200) is modelled with botocore's Stubber."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_api._internal import moto_api_backend

from deployctl.actions.aws import Clients
from deployctl.actions.common import ActionError
from deployctl.actions.lambda_ import register
from deployctl.actions.lambda_invoke import INVOKE_READ_TIMEOUT
from deployctl.core.ports import FAIL, PASS, Registry
from deployctl.testing.aws import REGION, code_zip, lambda_role, request

FN = "api-handler"


@pytest.fixture
def registry(clients: Clients) -> Registry:
    reg = Registry()
    register(reg, clients)
    lam = clients.client("lambda", REGION)
    lam.create_function(
        FunctionName=FN,
        Runtime="python3.12",
        Role=lambda_role(clients),
        Handler="handler.main",
        Code={"ZipFile": code_zip("v1")},
    )
    lam.publish_version(FunctionName=FN)
    return reg


def answer(value: Any) -> None:
    """The next invoke's payload in moto's docker-less Lambda."""
    moto_api_backend.set_lambda_simple_result(json.dumps(value), DEFAULT_ACCOUNT_ID, REGION)


@pytest.fixture
def handler_error(clients: Clients) -> Iterator[Stubber]:
    """Stubber: an invoke whose handler raised (status 200, FunctionError set)."""
    client = clients.client("lambda", REGION, read_timeout=INVOKE_READ_TIMEOUT)
    body = json.dumps({"errorMessage": "boom", "errorType": "ValueError"}).encode()
    with Stubber(client) as stub:
        stub.add_response(
            "invoke",
            {
                "StatusCode": 200,
                "FunctionError": "Unhandled",
                "Payload": StreamingBody(io.BytesIO(body), len(body)),
            },
        )
        yield stub
        stub.assert_no_pending_responses()


def smoke(expect: dict[str, Any]) -> dict[str, Any]:
    return {"function": FN, "qualifier": "1", "payload": {"ping": True}, "expect": expect}


def test_smoke_lambda_passes_when_every_expected_key_matches(registry: Registry) -> None:
    answer({"statusCode": 200, "body": "pong"})
    result = registry.get("smoke.lambda").check(request("smoke.lambda", smoke({"statusCode": 200})))
    assert result.status == PASS


def test_smoke_lambda_fails_on_a_wrong_value_and_names_it(registry: Registry) -> None:
    answer({"statusCode": 500})
    result = registry.get("smoke.lambda").check(request("smoke.lambda", smoke({"statusCode": 200})))
    assert result.status == FAIL
    assert "statusCode=500 (expected 200)" in result.detail


def test_smoke_lambda_fails_on_an_answer_that_is_not_json(registry: Registry) -> None:
    moto_api_backend.set_lambda_simple_result("not json", DEFAULT_ACCOUNT_ID, REGION)
    result = registry.get("smoke.lambda").check(request("smoke.lambda", smoke({"ok": True})))
    assert result.status == FAIL


def test_smoke_lambda_is_a_gate_with_nothing_to_apply(registry: Registry) -> None:
    action = registry.get("smoke.lambda")
    assert action.gate
    assert action.apply(request("smoke.lambda", smoke({}))) == {}
    assert not action.observe(request("smoke.lambda", smoke({}))).applied


def test_stubber_smoke_lambda_fails_on_function_error_despite_status_200(
    registry: Registry, handler_error: Stubber
) -> None:
    result = registry.get("smoke.lambda").check(request("smoke.lambda", smoke({})))
    assert result.status == FAIL
    assert "Unhandled" in result.detail


def test_lambda_invoke_sends_the_payload_and_returns_the_answer(registry: Registry) -> None:
    answer({"migrated": 500})
    out = registry.get("lambda.invoke").apply(
        request(
            "lambda.invoke", {"function": FN, "payload": {"batch_size": 500}, "timeout": 7200.0}
        )
    )
    assert out == {"response": {"migrated": 500}}


def test_stubber_lambda_invoke_raises_on_function_error_with_the_payload(
    registry: Registry, handler_error: Stubber
) -> None:
    with pytest.raises(ActionError, match=r"Unhandled.*boom"):
        registry.get("lambda.invoke").apply(
            request("lambda.invoke", {"function": FN, "payload": None, "timeout": 60.0})
        )


def test_lambda_invoke_has_nothing_to_observe(registry: Registry) -> None:
    seen = registry.get("lambda.invoke").observe(request("lambda.invoke", {"function": FN}))
    assert not seen.applied
