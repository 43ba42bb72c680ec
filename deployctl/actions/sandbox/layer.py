"""The sandbox layer: every registered action, wrapped.

The one place where a sandbox run differs from a real one, between the
executor and the built-in actions:

- **ids**: resolved params go in with plan ids swapped for the embedded
  AWS's (:class:`~deployctl.actions.sandbox.ids.IdMap`); outputs, observed
  outputs and check details come back with plan ids, so the journal and the
  live view show the plan's names.  Undo gets its outputs swapped in again.
- **metrics**: a gate's request carries the synthetic source bound to that
  gate's step, so ``--sandbox-fault ...@stage:2`` reaches stage 2 only.
- **faults**: ``fail@WHERE`` fails the matching steps (a check fails, any
  other step raises) before the real action is called.
- **no outside world**: ``smoke.http`` answers from a stub (nothing is
  sent), ``command.run`` reports what it would run, and Lambda invokes get
  an answer queued in moto's docker-less Lambda first.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from deployctl.actions.common import ActionError, CheckAction
from deployctl.actions.sandbox.faults import Fault, SandboxMetrics
from deployctl.actions.sandbox.ids import IdMap
from deployctl.core.kinds import StepKind
from deployctl.core.params import SmokeHttpParams, SmokeLambdaParams
from deployctl.core.ports import FAIL, PASS, Action, CheckResult, Observation, Registry
from deployctl.core.ports import StepRequest as Request

SIMULATED = "simulated by the sandbox"
INVOKE_KINDS = (StepKind.LAMBDA_INVOKE, StepKind.SMOKE_LAMBDA)


class Layer:
    """What every wrapped action shares: the id map, the faults, the metrics."""

    def __init__(self, ids: IdMap, faults: Sequence[Fault], metrics: SandboxMetrics) -> None:
        self.ids = ids
        self.fail_faults = tuple(f for f in faults if f.metric is None)
        self.metrics = metrics
        self.invoke_lock = threading.Lock()  # moto's answer queue is per region, not per call

    def inward(self, request: Request) -> Request:
        return replace(
            request,
            params=self.ids.inward(dict(request.params)),
            metrics=self.metrics.for_step(request.step),
        )

    def fault(self, request: Request) -> Fault | None:
        return next((f for f in self.fail_faults if f.matches(request.step)), None)


class Sandboxed(Action):
    def __init__(self, inner: Action, layer: Layer) -> None:
        self.inner = inner
        self.layer = layer

    def observe(self, request: Request) -> Observation:
        seen = self.inner.observe(self.layer.inward(request))
        ids = self.layer.ids
        return Observation(seen.applied, ids.outward(dict(seen.outputs)), ids.outward(seen.detail))

    def apply(self, request: Request) -> Mapping[str, Any]:
        fault = self.layer.fault(request)
        if fault is not None:
            raise ActionError(request.step.kind, f"sandbox fault {fault.text}: simulated failure")
        return dict(self.layer.ids.outward(dict(self.call(self.layer.inward(request)))))

    def call(self, request: Request) -> Mapping[str, Any]:
        return self.inner.apply(request)

    def undo(self, request: Request, outputs: Mapping[str, Any]) -> Mapping[str, Any] | None:
        ids = self.layer.ids
        done = self.inner.undo(self.layer.inward(request), ids.inward(dict(outputs)))
        return None if done is None else dict(ids.outward(dict(done)))

    def window(self, request: Request) -> float | None:
        return self.inner.window(self.layer.inward(request))

    def check(self, request: Request) -> CheckResult:
        fault = self.layer.fault(request)
        if fault is not None:
            return CheckResult(FAIL, detail=f"sandbox fault {fault.text}: simulated failure")
        got = self.inner.check(self.layer.inward(request))
        return replace(got, detail=self.layer.ids.outward(got.detail))


class SandboxedGate(Sandboxed):
    gate = True


class QueuedInvoke(Sandboxed):
    """Lambda invokes: moto's docker-less Lambda answers from a queue, so put
    the answer the step expects (a smoke test's ``expect``) there first."""

    def __init__(self, inner: Action, layer: Layer, region: str | None) -> None:
        super().__init__(inner, layer)
        self.default_region = region or "us-east-1"

    def _queue(self, request: Request) -> None:
        from moto.core.models import DEFAULT_ACCOUNT_ID  # noqa: PLC0415 - moto is optional
        from moto.moto_api._internal.models import moto_api_backend  # noqa: PLC0415

        # Only a smoke test expects an answer; a lambda.invoke takes any.
        expect = (
            SmokeLambdaParams.from_params(request.params).expect
            if request.step.kind == StepKind.SMOKE_LAMBDA
            else None
        )
        answer = expect or {"statusCode": 200, "sandbox": SIMULATED}
        region = request.step.region or self.default_region
        moto_api_backend.set_lambda_simple_result(json.dumps(answer), DEFAULT_ACCOUNT_ID, region)

    def call(self, request: Request) -> Mapping[str, Any]:
        with self.layer.invoke_lock:
            self._queue(request)
            return self.inner.apply(request)

    def check(self, request: Request) -> CheckResult:
        fault = self.layer.fault(request)
        if fault is not None:
            return CheckResult(FAIL, detail=f"sandbox fault {fault.text}: simulated failure")
        with self.layer.invoke_lock:
            self._queue(request)
            got = self.inner.check(self.layer.inward(request))
        return replace(got, detail=self.layer.ids.outward(got.detail))


class QueuedSmoke(QueuedInvoke):
    gate = True


class StubHttp(CheckAction):
    """``smoke.http`` in the sandbox: answers as the check expects; sends nothing."""

    def check(self, request: Request) -> CheckResult:
        p = SmokeHttpParams.from_params(request.params)
        method = str(p.method or "GET").upper()
        status = int(p.expect_status or 200)
        body = f", body contains {p.body_contains!r}" if p.body_contains else ""
        return CheckResult(
            PASS, detail=f"{method} {p.url} -> {status}{body} ({SIMULATED}; nothing sent)"
        )


class StubCommand(Action):
    """``command.run`` in the sandbox: says what would run; runs nothing."""

    def observe(self, request: Request) -> Observation:
        return Observation(applied=False, detail="a program run leaves nothing to observe")

    def apply(self, request: Request) -> Mapping[str, Any]:
        argv = " ".join(str(a) for a in request.params.get("argv") or ())
        return {"exit_code": 0, "sandbox": f"not run ({SIMULATED}): {argv}"}


def wrap(registry: Registry, layer: Layer, region: str | None) -> Registry:
    """A registry of the same kinds, every action behind the sandbox layer."""
    out = Registry()
    for kind in registry.kinds():
        inner: Action = registry.get(kind)
        if kind == StepKind.SMOKE_HTTP:
            inner = StubHttp()
        elif kind == StepKind.COMMAND_RUN:
            inner = StubCommand()
        action: Action
        if kind in INVOKE_KINDS:
            action = (QueuedSmoke if inner.gate else QueuedInvoke)(inner, layer, region)
        elif inner.gate:
            action = SandboxedGate(inner, layer)
        else:
            action = Sandboxed(inner, layer)
        out.register(kind, action)
    for scheme, source in registry.secret_sources().items():  # ${ssm:...} read from moto
        out.register_secrets(scheme, source)
    return out
