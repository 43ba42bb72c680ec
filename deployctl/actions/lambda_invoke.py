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
from deployctl.core.ports import FAIL, PASS, Action, CheckResult, Observation, StepRequest

# Lambda stops every function by 900 s, so waiting a little longer than that
# means a read timeout can only be a lost connection: botocore then retries,
# and we never cut off (and re-run) a migration that is still working.
INVOKE_READ_TIMEOUT = 960.0


def invoke(clients: Clients, request: StepRequest) -> tuple[str | None, Any, str]:
    """Invoke and decode: (function error or None, decoded JSON or None, raw text)."""
    p = request.params
    args: dict[str, Any] = {"FunctionName": p["function"], "InvocationType": "RequestResponse"}
    if p.get("qualifier"):
        args["Qualifier"] = str(p["qualifier"])
    if p.get("payload") is not None:
        args["Payload"] = json.dumps(p["payload"]).encode()
    client = clients.client("lambda", request.step.region, read_timeout=INVOKE_READ_TIMEOUT)
    answer = client.invoke(**args)
    raw = answer["Payload"].read().decode("utf-8", "replace")
    try:
        decoded = json.loads(raw) if raw else None
    except ValueError:
        decoded = None
    return answer.get("FunctionError"), decoded, raw


def _target(request: StepRequest) -> str:
    q = request.params.get("qualifier")
    return f"{request.params['function']}:{q}" if q else str(request.params["function"])


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
        error, decoded, raw = invoke(self.clients, request)
        if error:
            raise ActionError(
                request.step.kind,
                f"{_target(request)} failed ({error}): {truncate(request.redact(raw))}",
            )
        return {"response": decoded} if decoded is not None else {}


class SmokeLambda(CheckAction):
    """``smoke.lambda``: invoke ``qualifier`` with ``payload``; every key of
    ``expect`` must equal the same key of the decoded JSON answer."""

    def __init__(self, clients: Clients) -> None:
        self.clients = clients

    def check(self, request: StepRequest) -> CheckResult:
        target = _target(request)
        error, decoded, raw = invoke(self.clients, request)
        if error:
            return CheckResult(
                FAIL, detail=f"{target} raised ({error}): {truncate(request.redact(raw), 500)}"
            )
        expect = request.params.get("expect") or {}
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
