"""Helpers for the AWS action tests (the fixtures are in conftest.py)."""

from __future__ import annotations

import io
import zipfile
from collections import Counter
from collections.abc import Mapping
from typing import Any

from deployctl.actions.api import StepRequest
from deployctl.execute.api import Clock
from deployctl.execute.clock import VirtualClock
from deployctl.plan.api import Step

REGION = "us-east-1"


class Calls:
    """Counts API operations through botocore's ``before-call`` event."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()

    def __call__(self, model: Any, **_: Any) -> None:
        self.seen[model.name] += 1

    def __getitem__(self, operation: str) -> int:
        return self.seen[operation]


def request(
    kind: str,
    params: Mapping[str, Any],
    clock: Clock | None = None,
    *,
    step_id: str = "us-east-1/step",
    region: str = REGION,
) -> StepRequest:
    step = Step(id=step_id, kind=kind, description=kind, params=dict(params), region=region)
    return StepRequest(step=step, params=dict(params), run_id="run-1", attempt=1,
                       token="tok-1", clock=clock or VirtualClock())


def zip_bytes(body: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", body)
    return buf.getvalue()


def lambda_role(session: Any) -> str:
    iam = session.client("iam", region_name=REGION)
    doc = '{"Version":"2012-10-17","Statement":[]}'
    return str(iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument=doc)["Role"]["Arn"])
