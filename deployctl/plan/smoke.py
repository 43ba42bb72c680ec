"""Smoke-test steps: read-only checks that must pass before traffic moves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from deployctl.core.kinds import StepKind
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
            params = asdict(check)
            headers = params.pop("headers")
            if headers:  # absent when none, so plans without headers keep their digest
                params["headers"] = dict(headers)
            out.append(
                g.add(
                    Step(
                        f"{base}/{test.name}",
                        StepKind.SMOKE_HTTP,
                        what,
                        params,
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
            out.append(
                g.add(
                    Step(
                        f"{base}/{test.name}",
                        StepKind.SMOKE_LAMBDA,
                        f"invoke {target}, expect {inv.expect!r}",
                        asdict(inv),
                        tuple(after),
                        region,
                        tags,
                        mutating=False,
                    )
                )
            )
    return out
