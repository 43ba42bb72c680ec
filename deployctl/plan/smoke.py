"""Smoke-test steps: read-only checks that must pass before traffic moves."""

from __future__ import annotations

from collections.abc import Sequence

from deployctl.core.params import SmokeHttpParams, SmokeLambdaParams
from deployctl.manifest import model as m
from deployctl.plan.api import Step
from deployctl.plan.graph import StepGraph


def smoke_steps(
    g: StepGraph,
    tests: Sequence[m.SmokeTest],
    base: str,
    region: str,
    after: list[str],
    tags: tuple[str, ...],
) -> list[str]:
    """One parallel step per test after ``after``; returns their ids (empty: no tests)."""
    out = []
    for test in tests:
        if test.http:
            check = test.http
            what = f"{check.method} {check.url} -> {check.expect_status}"
            if check.body_contains:
                what += f" containing {check.body_contains!r}"
            http = SmokeHttpParams(
                url=check.url,
                expect_status=check.expect_status,
                body_contains=check.body_contains,
                timeout=check.timeout,
                retries=check.retries,
                method=check.method,
                headers=dict(check.headers),
            )
            out.append(
                g.add(
                    Step(
                        f"{base}/{test.name}",
                        http.KIND,
                        what,
                        http.to_params(),
                        tuple(after),
                        region,
                        tags,
                        mutating=False,
                    )
                )
            )
        elif test.invoke:
            inv = test.invoke
            target = f"{inv.function}:{inv.qualifier}" if inv.qualifier else inv.function
            invoke = SmokeLambdaParams(
                function=inv.function,
                qualifier=inv.qualifier,
                payload=inv.payload,
                expect=inv.expect,
            )
            out.append(
                g.add(
                    Step(
                        f"{base}/{test.name}",
                        invoke.KIND,
                        f"invoke {target}, expect {inv.expect!r}",
                        invoke.to_params(),
                        tuple(after),
                        region,
                        tags,
                        mutating=False,
                    )
                )
            )
    return out
