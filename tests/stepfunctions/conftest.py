"""Step Functions tests: in-process moto that really runs state machines
(``execute_state_machine``), a Lambda ``api`` with alias ``live`` on version 1,
and a helper that waits for an execution by joining moto's worker thread
(no sleeps, no polling)."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/deployctl-sfn"


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.py", "def handler(event, context):\n    return {'ok': True}\n")
    return buf.getvalue()


@pytest.fixture
def sfn_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws(
        config={"lambda": {"use_docker": False}, "stepfunctions": {"execute_state_machine": True}}
    ):
        yield


@pytest.fixture
def api_function(sfn_aws: None) -> dict[str, Any]:
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(
        RoleName="fn", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"})
    )["Role"]["Arn"]
    lam = boto3.client("lambda", region_name=REGION)
    lam.create_function(
        FunctionName="api",
        Runtime="python3.12",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": _zip()},
    )
    v1 = lam.publish_version(FunctionName="api")["Version"]
    lam.create_alias(FunctionName="api", Name="live", FunctionVersion=v1)
    # version 2's code: a changed description makes publish_version mint a new version
    lam.update_function_configuration(FunctionName="api", Description="v2")
    return {"stable": v1}


def until(condition: Any, timeout: float = 20.0) -> None:
    """Wait for ``condition()`` while an execution runs towards it: join moto's
    execution threads in short slices (an execution parked on a task token
    never ends by itself)."""
    waited = 0.0
    while not condition():
        threads = [t for t in threading.enumerate() if _is_execution(t)]
        assert threads and waited < timeout, "the condition never came true"
        threads[0].join(0.02)
        waited += 0.02


def _is_execution(thread: threading.Thread) -> bool:
    return getattr(getattr(thread, "_target", None), "__name__", "") == "_execution_logic"


def wait_for_executions(timeout: float = 20.0) -> None:
    """Join moto's execution threads: the execution has ended when this returns."""
    for thread in threading.enumerate():
        target = getattr(thread, "_target", None)
        if getattr(target, "__name__", "") == "_execution_logic":
            thread.join(timeout)
            assert not thread.is_alive(), "the execution did not end"
