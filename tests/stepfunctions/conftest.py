"""Step Functions tests: in-process moto that really runs state machines
(``execute_state_machine``, each definition parsed once per process) and a
Lambda ``api`` with alias ``live`` on version 1.  Waiting for executions:
:mod:`deployctl.testing.stepfunctions`."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from deployctl.testing.aws import REGION
from deployctl.testing.moto import thread_safe_moto
from deployctl.testing.stepfunctions import (
    memoized_asl_parser,
    sdk_service_names,
    shared_task_clients,
)


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.py", "def handler(event, context):\n    return {'ok': True}\n")
    return buf.getvalue()


@pytest.fixture
def sfn_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with (
        mock_aws(
            config={
                "lambda": {"use_docker": False},
                "stepfunctions": {"execute_state_machine": True},
            }
        ),
        memoized_asl_parser(),
        sdk_service_names(),
        shared_task_clients(),
        # Executions run on moto's threads and read alarms others put.
        thread_safe_moto(),
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
