"""Feature-flag steps: set a flag, or raise its percentage stage by stage behind gates."""

from __future__ import annotations

from collections.abc import Sequence

from deployctl.core.params import FlagSetParams, FlagStore, FlagValue
from deployctl.manifest import model as m
from deployctl.manifest.triggers import Trigger
from deployctl.plan.api import Step
from deployctl.plan.gates import gate_step
from deployctl.plan.graph import StepGraph


def store_params(store: m.FlagStore) -> FlagStore:
    return FlagStore(
        kind=store.kind,
        path=store.path,
        application=store.application,
        environment=store.environment,
        profile=store.profile,
        deployment_strategy=store.deployment_strategy,
    )


def flag_value(flag: m.Flag, percentage: int) -> FlagValue:
    return FlagValue(enabled=flag.enabled, percentage=percentage, allowlist=flag.allowlist)


def set_step(
    step_id: str,
    store: m.FlagStore,
    name: str,
    value: FlagValue,
    after: Sequence[str],
    region: str,
    tags: tuple[str, ...],
) -> Step:
    state = "on" if value.enabled else "off"
    what = f"flag {name}: {state}, {value.percentage}%"
    if value.allowlist:
        what += f", allowlist {len(value.allowlist)}"
    params = FlagSetParams(store=store_params(store), flag=name, value=value)
    return Step(
        step_id,
        params.KIND,
        what,
        params.to_params(),
        tuple(after),
        region,
        tags,
        undo=f"flag {name} back to its previous value",
    )


def flag_steps(
    g: StepGraph,
    flags: Sequence[m.Flag],
    store: m.FlagStore,
    base: str,
    region: str,
    after: list[str],
    *,
    interval: float,
    analysis: m.Analysis,
    triggers: Sequence[Trigger],
    alarms: Sequence[str] = (),
) -> list[str]:
    """Each flag is independent: all start after ``after``; returns every flag's last step."""
    ends = []
    for flag in flags:
        last = list(after)
        p = f"{base}/{flag.name}"
        tags = (f"flag:{flag.name}", "phase:flags")
        for n, stage in enumerate(flag.rollout, start=1):
            last = [
                g.add(
                    set_step(
                        f"{p}/stage-{n}/set",
                        store,
                        flag.name,
                        flag_value(flag, stage.percentage),
                        last,
                        region,
                        (*tags, f"stage:{n}"),
                    )
                )
            ]
            if stage.duration:
                last = [
                    g.add(
                        gate_step(
                            f"{p}/stage-{n}/analysis",
                            duration=stage.duration,
                            interval=interval,
                            threshold=stage.metric_threshold,
                            analysis=analysis,
                            triggers=triggers,
                            deps=last,
                            region=region,
                            tags=(*tags, f"stage:{n}"),
                            alarms=alarms,
                        )
                    )
                ]
        if not flag.rollout or flag.rollout[-1].percentage != flag.percentage or not flag.enabled:
            last = [
                g.add(
                    set_step(
                        f"{p}/set",
                        store,
                        flag.name,
                        flag_value(flag, flag.percentage),
                        last,
                        region,
                        tags,
                    )
                )
            ]
        ends += last
    return ends
