"""The seed's four-phase migration: dual write -> backfill -> validate ->
switch read -> cleanup, with a snapshot first and cleanup as a one-way door."""

from __future__ import annotations

from deployctl.core.params import (
    ApprovalParams,
    CommandRunParams,
    FlagValue,
    LambdaInvokeParams,
    RdsSnapshotParams,
)
from deployctl.manifest import model as m
from deployctl.plan.api import Step
from deployctl.plan.flags import set_step
from deployctl.plan.graph import Ctx


def _runner(
    step_id: str,
    phase: m.Phase,
    after: list[str],
    region: str,
    cwd: str,
    *,
    mutating: bool = True,
    one_way: bool = False,
) -> Step:
    runner = phase.runner
    assert runner is not None
    tags = (f"phase:{phase.name}", f"region:{region}")
    if runner.function:
        invoke = LambdaInvokeParams(
            function=runner.function, payload=runner.payload, timeout=runner.timeout
        )
        return Step(
            step_id,
            invoke.KIND,
            f"{phase.name}: invoke {runner.function}",
            invoke.to_params(),
            tuple(after),
            region,
            tags,
            mutating=mutating,
            reversible=not one_way,
            one_way=one_way,
        )
    # Paths in argv are relative to the plan file, like templates and zips.
    command = CommandRunParams(
        argv=runner.command, timeout=runner.timeout, cwd=cwd, env=dict(runner.env)
    )
    return Step(
        step_id,
        command.KIND,
        f"{phase.name}: run {' '.join(runner.command)}",
        command.to_params(),
        tuple(after),
        region,
        tags,
        mutating=mutating,
        reversible=not one_way,
        one_way=one_way,
    )


def compile_migration(ctx: Ctx, mig: m.Migration, after: list[str]) -> list[str]:
    g, region = ctx.graph, mig.header.region
    cwd = ctx.base_dir or "."
    p = f"{ctx.prefix}{region}/migration"
    if mig.snapshot:
        snapshot = (
            RdsSnapshotParams(instance=mig.rds_instance)
            if mig.rds_instance
            else RdsSnapshotParams(cluster=mig.rds_cluster)
        )
        name = mig.rds_instance or mig.rds_cluster
        after = [
            g.add(
                Step(
                    f"{p}/snapshot",
                    snapshot.KIND,
                    f"snapshot {name} as the restore point",
                    snapshot.to_params(),
                    tuple(after),
                    region,
                    ("phase:snapshot", f"region:{region}"),
                    outputs=("snapshot_id", "restore_time"),
                )
            )
        ]
    for phase in mig.phases:
        step_id = f"{p}/{phase.name}"
        if phase.flag:
            value = FlagValue(enabled=True, percentage=100)
            after = [
                g.add(
                    set_step(
                        step_id,
                        mig.store,
                        phase.flag,
                        value,
                        after,
                        region,
                        (f"phase:{phase.name}", f"region:{region}"),
                    )
                )
            ]
        elif phase.name == "validate":
            after = [g.add(_runner(step_id, phase, after, region, cwd, mutating=False))]
        elif phase.name == "cleanup":
            approval = g.add(
                Step(
                    f"{p}/approve-cleanup",
                    ApprovalParams.KIND,
                    "approve cleanup: a one-way door, automatic rollback ends here",
                    ApprovalParams(reason="cleanup cannot be undone").to_params(),
                    tuple(after),
                    region,
                    ("phase:cleanup", f"region:{region}"),
                    mutating=False,
                )
            )
            after = [g.add(_runner(step_id, phase, [approval], region, cwd, one_way=True))]
        else:
            after = [g.add(_runner(step_id, phase, after, region, cwd))]
    return after
