"""``apply --engine stepfunctions``: start a plan as a Step Functions execution.

deployctl's part is short: translate the plan (:mod:`.asl`), create or
update the state machine ``deployctl-<project>-<environment>``, take the
plan's lock with a lease long enough for the whole run, record the run in
the state store (one ``engine`` record names the execution), and start the
execution named by the run id.  From then on AWS runs the plan; this module
also reads an execution back (:func:`refresh`): it maps the execution's end
to the run's status, writes ``run_finished`` and frees the lock, the first
time any deployctl command (``status``, ``runs``, ``apply --wait``) sees it
ended.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from deployctl.errors import (
    EXIT_OK,
    EXIT_ROLLBACK_INCOMPLETE,
    EXIT_ROLLED_BACK,
    EXIT_WAITING,
    UserError,
)
from deployctl.execute import api
from deployctl.execute.stored import stored_plan
from deployctl.plan.api import Plan
from deployctl.state.api import Journal, Lock, RunInfo, StateStore
from deployctl.state.lease import lock_id_for
from deployctl.stepfunctions import asl

ENGINE_RECORD = "engine"  # step_id None: the local fold ignores it
ENGINE = "stepfunctions"
# The lock outlives this process: its lease covers the plan's waits twice over
# plus a day, and the first command that sees the execution end frees it.
LEASE_FLOOR = 24 * 3600.0

Clients = Callable[[str], Any]  # service name -> boto3 client


@dataclass(frozen=True)
class Started:
    run_id: str
    execution_arn: str
    state_machine_arn: str
    console_url: str


def console_url(execution_arn: str) -> str:
    region = execution_arn.split(":")[3]
    return (
        f"https://{region}.console.aws.amazon.com/states/home?region={region}"
        f"#/v2/executions/details/{execution_arn}"
    )


def _machine(sfn: Any, name: str, definition: str, role_arn: str) -> str:
    pages = sfn.get_paginator("list_state_machines").paginate()
    for page in pages:
        for found in page["stateMachines"]:
            if found["name"] == name:
                arn: str = found["stateMachineArn"]
                sfn.update_state_machine(
                    stateMachineArn=arn, definition=definition, roleArn=role_arn
                )
                return arn
    created: str = sfn.create_state_machine(
        name=name, definition=definition, roleArn=role_arn, type="STANDARD"
    )["stateMachineArn"]
    return created


def machine_lock(lock: Lock, region: str) -> dict[str, str] | None:
    """What the machine's last states need to free the plan's lock themselves
    (:meth:`.asl._Translator.free_lock`): only a DynamoDB lock in the machine's own
    region is in reach (an aws-sdk task calls its state machine's region).  A
    SQLite or file store stays on the machine that ran ``apply``: there, and
    whenever the machine could not free it, the first deployctl command that
    sees the ended execution frees the lock (:func:`refresh`)."""
    from deployctl.state.dynamolock import DynamoLock  # noqa: PLC0415 - boto3 only when used

    if not isinstance(lock, DynamoLock) or lock.fence is None or lock.table.region != region:
        return None
    fence = lock.fence
    return {
        "table": lock.table.name,
        "id": fence.lock_id,
        "token": fence.token,
        "epoch": str(fence.epoch),
    }


def start(
    plan: Plan,
    store: StateStore,
    clients: Clients,
    *,
    role_arn: str,
    user: str,
    wait_scale: float = 1.0,
) -> Started:
    machine = asl.translate(plan, asl.Options(wait_scale=wait_scale))
    lease = LEASE_FLOOR + 2 * sum(s.wait for s in plan.steps) * wait_scale
    lock = store.lock(lock_id_for(plan.project, plan.environment), user, os.getpid(), lease=lease)
    journal = store.journal()
    try:
        lock.acquire()
        journal.hold(lock.fence)
        running = [
            r for r in journal.runs(plan.project, plan.environment) if r.status in api.RESUMABLE
        ]
        if running:
            raise UserError(
                f"run {running[0].run_id} of {plan.project}/{plan.environment} has not ended "
                f"({running[0].status}); see 'deployctl status {running[0].run_id}'"
            )
        sfn = clients("stepfunctions")
        arn = _machine(sfn, asl.machine_name(plan), json.dumps(machine.definition), role_arn)
        run = journal.create_run(plan, user, stored_plan(plan))
        lock.set_run(run.run_id)
        start_input: dict[str, Any] = {"run_id": run.run_id}
        held = machine_lock(lock, sfn.meta.region_name)
        if held is not None:
            start_input["lock"] = held
        execution: str = sfn.start_execution(
            stateMachineArn=arn, name=run.run_id, input=json.dumps(start_input)
        )["executionArn"]
        journal.append(
            run.run_id,
            ENGINE_RECORD,
            data={
                "engine": ENGINE,
                "state_machine_arn": arn,
                "execution_arn": execution,
                "approvals": dict(machine.approvals),
                "alarms": [a.name for a in machine.alarms],
            },
        )
        return Started(run.run_id, execution, arn, console_url(execution))
    except BaseException:
        lock.release()  # nothing started (or the start failed): free the lock now
        raise
    finally:
        journal.hold(None)
        journal.close()
        lock.close()


def relock(store: StateStore, run: RunInfo, user: str, region: str) -> dict[str, str] | None:
    """Hold the plan's lock for ``run`` again (a rollback or redrive of an ended
    run); a lock this run still holds is kept; another run's is LockHeld (exit 4).
    A new holding the machine can free: its :func:`machine_lock`."""
    lock_id = lock_id_for(run.project, run.environment)
    held = {info.lock_id: info for info in store.locks()}
    if lock_id in held and held[lock_id].run_id == run.run_id:
        return None
    lock = store.lock(lock_id, user, os.getpid(), lease=LEASE_FLOOR)
    try:
        lock.acquire(run.run_id)
        lock.set_run(run.run_id)
        return machine_lock(lock, region)
    finally:
        lock.close()


def engine_of(journal: Journal, run_id: str) -> Mapping[str, Any] | None:
    """The run's ``engine`` records, later ones (a rollback's execution) over
    earlier ones (None: a run of the local engine)."""
    merged: dict[str, Any] | None = None
    for rec in journal.records(run_id):
        if rec.type == ENGINE_RECORD:
            merged = {**(merged or {}), **rec.data}
    return merged


def last_state(sfn: Any, execution_arn: str) -> dict[str, Any]:
    """The newest state data of an execution: its output if it ended well, else
    the output of the last state it left (what it had done so far)."""
    execution = sfn.describe_execution(executionArn=execution_arn)
    if execution.get("output"):
        found: dict[str, Any] = json.loads(execution["output"])
        return found
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events += page["events"]
        if not page.get("nextToken"):
            break
        kwargs["nextToken"] = page["nextToken"]
    for event in sorted(events, key=lambda e: e["id"], reverse=True):
        output = event.get("stateExitedEventDetails", {}).get("output")
        if output:
            data: dict[str, Any] = json.loads(output)
            return data
    return {}


def rollback(
    journal: Journal, run: RunInfo, clients: Clients, lock: Mapping[str, str] | None = None
) -> str:
    """Stop the run's execution if it still runs, and start one that goes straight
    to the rollback path with what the run had done (and ``lock``, a new holding
    of the plan's lock for its last states to free); its ARN."""
    engine = engine_of(journal, run.run_id)
    if engine is None:
        raise UserError(f"run {run.run_id} ran on the local engine")
    sfn = clients("stepfunctions")
    current = engine["execution_arn"]
    if sfn.describe_execution(executionArn=current)["status"] == "RUNNING":
        sfn.stop_execution(executionArn=current, cause="deployctl rollback")
    if engine.get("approvals"):  # the stopped execution's task tokens are dead
        ssm = clients("ssm")
        for key in engine["approvals"].values():
            name = asl.approval_parameter(run.project, run.environment, run.run_id, key)
            with contextlib.suppress(ssm.exceptions.ParameterNotFound):
                ssm.delete_parameter(Name=name)
    data = last_state(sfn, current)
    data.pop("error", None)
    data.update(run_id=run.run_id, rollback=True)
    if lock is not None:
        data["lock"] = dict(lock)
    rounds = sum(1 for rec in journal.records(run.run_id) if rec.type == ENGINE_RECORD)
    execution: str = sfn.start_execution(
        stateMachineArn=engine["state_machine_arn"],
        name=f"{run.run_id}-rollback-{rounds}",
        input=json.dumps(data),
    )["executionArn"]
    journal.append(run.run_id, api.ROLLBACK_STARTED, data={"reason": "by hand", "engine": ENGINE})
    journal.append(run.run_id, ENGINE_RECORD, data={"execution_arn": execution})
    if run.status != api.RUNNING:
        journal.set_status(run.run_id, api.RUNNING)
    return execution


def redrive(journal: Journal, run: RunInfo, clients: Clients) -> str:
    """Redrive the run's failed execution from the state that failed (resume)."""
    engine = engine_of(journal, run.run_id)
    if engine is None:
        raise UserError(f"run {run.run_id} ran on the local engine")
    sfn = clients("stepfunctions")
    arn: str = engine["execution_arn"]
    status = sfn.describe_execution(executionArn=arn)["status"]
    if status not in ("FAILED", "TIMED_OUT", "ABORTED"):
        raise UserError(f"run {run.run_id}: its execution is {status.lower()}; nothing to redrive")
    sfn.redrive_execution(executionArn=arn)
    journal.append(run.run_id, api.RESUMED, data={"engine": ENGINE, "redrive": arn})
    journal.set_status(run.run_id, api.RUNNING)
    return arn


# execution status / error -> run status, exit code
def outcome(execution: Mapping[str, Any], waiting: bool) -> tuple[str, int]:
    status = execution["status"]
    if status == "SUCCEEDED":
        return api.SUCCEEDED, EXIT_OK
    if status == "RUNNING":
        return (api.WAITING if waiting else api.RUNNING), (EXIT_WAITING if waiting else -1)
    if execution.get("error") == asl.ROLLED_BACK:
        return api.ROLLED_BACK, EXIT_ROLLED_BACK
    # stopped at a one-way door, timed out, aborted, or failed inside the rollback path
    return api.ROLLBACK_INCOMPLETE, EXIT_ROLLBACK_INCOMPLETE


def waiting_on_approval(run: RunInfo, engine: Mapping[str, Any], clients: Clients) -> bool:
    """Does an approval of the run hold a task token?  (It is deleted once sent.)"""
    if not engine.get("approvals"):
        return False
    ssm = clients("ssm")
    prefix = asl.approval_parameter(run.project, run.environment, run.run_id, "")
    found = ssm.get_parameters_by_path(Path=prefix.rstrip("/"), Recursive=True)
    return bool(found["Parameters"])


def refresh(
    store: StateStore, journal: Journal, run: RunInfo, clients: Clients
) -> tuple[str, int, Mapping[str, Any]]:
    """Read the execution of ``run``: (run status, exit code, execution).  The first
    time it is seen ended, the run is finished in the journal and its lock freed."""
    engine = engine_of(journal, run.run_id)
    if engine is None:
        raise UserError(f"run {run.run_id} ran on the local engine")
    sfn = clients("stepfunctions")
    execution = sfn.describe_execution(executionArn=engine["execution_arn"])
    waiting = execution["status"] == "RUNNING" and waiting_on_approval(run, engine, clients)
    status, code = outcome(execution, waiting)
    if status != run.status:
        if status in api.ENDED:
            journal.append(
                run.run_id,
                api.RUN_FINISHED,
                data={"status": status, "error": execution.get("error"), "engine": ENGINE},
            )
        journal.set_status(run.run_id, status)
    if status in api.ENDED:
        lock_id = lock_id_for(run.project, run.environment)
        held = {info.lock_id: info for info in store.locks()}
        if lock_id in held and held[lock_id].run_id == run.run_id:
            store.unlock(lock_id)
    return status, code, execution


def approve(journal: Journal, run: RunInfo, clients: Clients, step: str | None) -> list[str]:
    """Send the stored task token of each waiting approval (or of ``step``)."""
    engine = engine_of(journal, run.run_id)
    if engine is None:
        raise UserError(f"run {run.run_id} ran on the local engine")
    approvals: Mapping[str, str] = engine.get("approvals", {})
    if step is not None and step not in approvals:
        raise UserError(f"run {run.run_id} has no approval step {step!r}")
    ssm, sfn = clients("ssm"), clients("stepfunctions")
    done = []
    for sid, key in approvals.items():
        if step is not None and sid != step:
            continue
        name = asl.approval_parameter(run.project, run.environment, run.run_id, key)
        try:
            token = ssm.get_parameter(Name=name)["Parameter"]["Value"]
        except ssm.exceptions.ParameterNotFound:
            continue  # not reached yet
        sfn.send_task_success(taskToken=token, output=json.dumps({"approved": True}))
        ssm.delete_parameter(Name=name)
        journal.append(run.run_id, api.APPROVED, step_id=sid, data={"engine": ENGINE})
        done.append(sid)
    if not done:
        raise UserError(f"run {run.run_id} waits on no approval")
    return done
