"""Step Functions tests: in-process moto that really runs state machines
(``execute_state_machine``, each definition parsed once per session) and a
Lambda ``api`` with alias ``live`` on version 1.  Waiting for executions:
:mod:`deployctl.testing.stepfunctions`."""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from deployctl.testing.aws import REGION
from deployctl.testing.moto import thread_safe_moto
from deployctl.testing.stepfunctions import (
    abandon_executions,
    memoized_asl_parser,
    sdk_service_names,
    shared_task_clients,
)


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.py", "def handler(event, context):\n    return {'ok': True}\n")
    return buf.getvalue()


@pytest.fixture(scope="session")
def asl_programs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where this session's processes share the programs of the definitions
    they parsed: the session's folder, above each xdist worker's own."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "asl-programs"


@pytest.fixture
def sfn_aws(monkeypatch: pytest.MonkeyPatch, asl_programs: Path) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with (
        mock_aws(
            config={
                "lambda": {"use_docker": False},
                "stepfunctions": {"execute_state_machine": True},
            }
        ),
        memoized_asl_parser(asl_programs),
        sdk_service_names(),
        shared_task_clients(),
        # Executions run on moto's threads and read alarms others put.
        thread_safe_moto(),
    ):
        yield
    abandon_executions()


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
