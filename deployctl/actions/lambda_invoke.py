"""Synchronous Lambda invokes: ``lambda.invoke`` (a migration runner) and
``smoke.lambda`` (invoke the new version, compare the answer).

A 200 status only means Lambda ran the call; a handler that raised still
answers 200 with ``FunctionError`` set, so both actions look at that first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from deployctl.actions.aws import Clients
from deployctl.actions.common import ActionError, CheckAction, truncate
from deployctl.core.params import LambdaInvokeParams, SmokeLambdaParams
from deployctl.core.ports import FAIL, PASS, Action, CheckResult, Observation, StepRequest

# Lambda stops every function by 900 s, so waiting a little longer than that
# means a read timeout can only be a lost connection: botocore then retries,
# and we never cut off (and re-run) a migration that is still working.
INVOKE_READ_TIMEOUT = 960.0


def invoke(
    clients: Clients,
    request: StepRequest,
    function: str,
    payload: Any,
    qualifier: str | None = None,
) -> tuple[str | None, Any, str]:
    """Invoke and decode: (function error or None, decoded JSON or None, raw text)."""
    args: dict[str, Any] = {"FunctionName": function, "InvocationType": "RequestResponse"}
    if qualifier:
        args["Qualifier"] = str(qualifier)
    if payload is not None:
        args["Payload"] = json.dumps(payload).encode()
    client = clients.client("lambda", request.step.region, read_timeout=INVOKE_READ_TIMEOUT)
    answer = client.invoke(**args)
    raw = answer["Payload"].read().decode("utf-8", "replace")
    try:
        decoded = json.loads(raw) if raw else None
    except ValueError:
        decoded = None
    return answer.get("FunctionError"), decoded, raw


def _target(function: str, qualifier: str | None = None) -> str:
    return f"{function}:{qualifier}" if qualifier else str(function)


class InvokeAction(Action):
    """``lambda.invoke``: run a function once, synchronously; its error fails the step.

    ``observe`` cannot see whether an earlier invoke ran, so a resumed step
    runs again: migration functions must be idempotent (the plan says so).
    """

    def __init__(self, clients: Clients) -> None:
        self.clients = clients

    def observe(self, request: StepRequest) -> Observation:
        return Observation(applied=False, detail="an invoke leaves nothing to observe")

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        p = LambdaInvokeParams.from_params(request.params)
        error, decoded, raw = invoke(self.clients, request, p.function, p.payload)
        if error:
            raise ActionError(
                request.step.kind,
                f"{_target(p.function)} failed ({error}): {truncate(request.redact(raw))}",
            )
        return {"response": decoded} if decoded is not None else {}


class SmokeLambda(CheckAction):
    """``smoke.lambda``: invoke ``qualifier`` with ``payload``; every key of
    ``expect`` must equal the same key of the decoded JSON answer."""

    def __init__(self, clients: Clients) -> None:
        self.clients = clients

    def check(self, request: StepRequest) -> CheckResult:
        p = SmokeLambdaParams.from_params(request.params)
        target = _target(p.function, p.qualifier)
        error, decoded, raw = invoke(self.clients, request, p.function, p.payload, p.qualifier)
        if error:
            return CheckResult(
                FAIL, detail=f"{target} raised ({error}): {truncate(request.redact(raw), 500)}"
            )
        expect = p.expect or {}
        if expect and not isinstance(decoded, dict):
            return CheckResult(
                FAIL,
                detail=f"{target} answered {truncate(request.redact(raw), 500)!r}, not a JSON object",
            )
        wrong = [
            f"{k}={decoded.get(k)!r} (expected {v!r})"
            for k, v in expect.items()
            if not isinstance(decoded, dict) or decoded.get(k) != v
        ]
        if wrong:
            return CheckResult(FAIL, detail=f"{target}: " + ", ".join(wrong))
        return CheckResult(PASS, detail=f"{target} answered as expected")
