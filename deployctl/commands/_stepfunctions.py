"""``--engine stepfunctions`` for apply, and Step Functions runs in status/approve.

Commands own this wiring so that ``deployctl.execute`` never imports
``deployctl.stepfunctions`` (the layering docs/architecture.md describes).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from deployctl.errors import UserError
from deployctl.plan.api import Plan
from deployctl.state.api import Journal, RunInfo, StateStore

POLL_SECONDS = 15.0


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        choices=["local", "stepfunctions"],
        default="local",
        help="local (default): this process runs the plan; stepfunctions: AWS Step Functions "
        "runs it and this process only starts it (docs/engines.md)",
    )
    parser.add_argument(
        "--role-arn",
        metavar="ARN",
        help="with --engine stepfunctions: the role the state machine runs as "
        "(its policy: deployctl export PLAN --format iam-policy)",
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="with --engine stepfunctions: follow the execution to its end (exit 0, 3, 6 or 7)",
    )
    # Tests and bench/fleet.py shrink every Wait state; never for real plans.
    parser.add_argument("--time-scale", type=float, default=1.0, help=argparse.SUPPRESS)


def clients(args: argparse.Namespace) -> Callable[[str], Any]:
    from deployctl.awssession import session  # noqa: PLC0415 - boto3 only when used

    aws = session(args.profile, args.region)
    made: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in made:
            made[service] = aws.client(service, endpoint_url=args.endpoint_url)
        return made[service]

    return client


def sleep(seconds: float) -> None:
    """How ``--wait`` waits between reads; tests replace it."""
    time.sleep(seconds)


def apply(plan: Plan, store: StateStore, args: argparse.Namespace) -> int:
    from deployctl.state.lease import who  # noqa: PLC0415
    from deployctl.stepfunctions import engine  # noqa: PLC0415

    if not args.role_arn:
        raise UserError("apply --engine stepfunctions needs --role-arn ARN")
    if args.sandbox:
        raise UserError("--sandbox runs the local engine; drop --engine stepfunctions")
    make = clients(args)
    started = engine.start(
        plan, store, make, role_arn=args.role_arn, user=who(), wait_scale=args.time_scale
    )
    print(f"run {started.run_id} started on AWS Step Functions")
    print(f"execution: {started.execution_arn}")
    print(f"console:   {started.console_url}")
    if not args.wait:
        return 0
    return follow(store, started.run_id, make)


def follow(store: StateStore, run_id: str, make: Callable[[str], Any]) -> int:
    from deployctl.stepfunctions import engine  # noqa: PLC0415

    last = ""
    while True:
        journal = store.journal()
        try:
            status, code, execution = engine.refresh(store, journal, journal.get_run(run_id), make)
        finally:
            journal.close()
        if status != last:
            print(f"run {run_id}: {status} ({execution['status'].lower()})")
            last = status
        if code >= 0:
            if code == 6:
                print(f"approve with: deployctl approve {run_id}")
            return code
        sleep(POLL_SECONDS)


def engine_run(journal: Journal, run_id: str) -> bool:
    from deployctl.stepfunctions.engine import engine_of  # noqa: PLC0415

    return engine_of(journal, run_id) is not None


def refresh(store: StateStore, journal: Journal, run: RunInfo, args: argparse.Namespace) -> None:
    from deployctl.stepfunctions import engine  # noqa: PLC0415

    engine.refresh(store, journal, run, clients(args))


def approve(
    journal: Journal, run: RunInfo, args: argparse.Namespace, step: str | None
) -> list[str]:
    from deployctl.stepfunctions import engine  # noqa: PLC0415

    return engine.approve(journal, run, clients(args), step)


def rollback(store: StateStore, run_id: str, args: argparse.Namespace) -> int:
    """Roll a Step Functions run back inside AWS, and follow it to its end."""
    from deployctl.state.lease import who  # noqa: PLC0415
    from deployctl.stepfunctions import engine  # noqa: PLC0415

    make = clients(args)
    journal = store.journal()
    try:
        run = journal.get_run(run_id)
        lock = engine.relock(store, run, who(), make("stepfunctions").meta.region_name)
        execution = engine.rollback(journal, run, make, lock)
    finally:
        journal.close()
    print(f"run {run_id}: rolling back on AWS Step Functions")
    print(f"execution: {execution}")
    return follow(store, run_id, make)


def resume(store: StateStore, run_id: str, args: argparse.Namespace) -> int:
    """Redrive a Step Functions run's failed execution, and follow it."""
    from deployctl.state.lease import who  # noqa: PLC0415
    from deployctl.stepfunctions import engine  # noqa: PLC0415

    make = clients(args)
    journal = store.journal()
    try:
        run = journal.get_run(run_id)
        # A redrive keeps the execution's input: a new holding of the lock is not
        # the one its last states would free, so a later command frees that one.
        engine.relock(store, run, who(), make("stepfunctions").meta.region_name)
        engine.redrive(journal, run, make)
    finally:
        journal.close()
    print(f"run {run_id}: redriven on AWS Step Functions")
    return follow(store, run_id, make)


def is_engine_run(store: StateStore, run_id: str) -> bool:
    journal = store.journal()
    try:
        journal.get_run(run_id)
        return engine_run(journal, run_id)
    except UserError:
        return False  # an unknown id: the local engine's command says so
    finally:
        journal.close()
