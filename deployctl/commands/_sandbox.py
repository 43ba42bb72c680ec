"""``apply --sandbox``: run a plan against the embedded AWS (see
:mod:`deployctl.actions.sandbox`), with its own state directory."""

from __future__ import annotations

import argparse
import dataclasses
import os

from deployctl import argtypes
from deployctl.commands._execute import executor, finish, options
from deployctl.core.plan import Plan
from deployctl.errors import EXIT_INTERRUPTED, EXIT_WAITING, UserError
from deployctl.state import local_dir

SUBDIR = "sandbox"  # under --state-dir: a sandbox run never meets a real one


def add_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "sandbox",
        "run against an embedded AWS (in-process moto, needs deployctl[sandbox]) seeded with "
        "what the plan references, with synthetic healthy metrics and a compressed clock. "
        "Approvals are granted automatically. Each sandbox run starts from fresh state and "
        "its AWS ends with the process, so it is never resumed; its journal is kept under "
        f"STATE_DIR/{SUBDIR}.",
    )
    group.add_argument("--sandbox", action="store_true", help="run in the sandbox")
    group.add_argument(
        "--sandbox-fault",
        action="append",
        default=[],
        metavar="FAULT",
        help="METRIC=VALUE[@WHERE] or fail@WHERE (repeatable); WHERE is a step tag "
        "(stage:2, region:eu-west-1, phase:monitor) or a step id or part of one "
        "(us-east-1/canary/stage-2/analysis, smoke/health); e.g. ErrorRate=0.2@stage:2",
    )
    group.add_argument(
        "--sandbox-speed",
        type=argtypes.positive,
        default=None,
        metavar="X",
        help="how many times faster than real time the clock runs (default 1200: an hour in 3s)",
    )


def check_options(args: argparse.Namespace) -> None:
    if args.sandbox:
        if args.endpoint_url or args.profile:
            raise UserError("--sandbox runs on an embedded AWS: drop --endpoint-url and --profile")
        return
    used = [
        flag
        for flag, value in (
            ("--sandbox-fault", args.sandbox_fault),
            ("--sandbox-speed", args.sandbox_speed),
        )
        if value
    ]
    if used:
        raise UserError(f"{' and '.join(used)} only make sense with --sandbox")


def run(plan: Plan, args: argparse.Namespace) -> int:
    from deployctl.actions.sandbox import DEFAULT_SPEED, sandbox  # noqa: PLC0415

    speed = DEFAULT_SPEED if args.sandbox_speed is None else args.sandbox_speed
    # abandon: the last sandbox run's AWS is gone, so it cannot be resumed.
    opts = dataclasses.replace(options(args), auto_approve=True, abandon=True)
    with sandbox(plan, args.sandbox_fault, speed) as box:
        print(
            "sandbox: embedded AWS (in-process moto), nothing leaves this machine; seeded "
            + (", ".join(box.seeded) or "nothing")
        )
        print(
            f"sandbox: synthetic metrics ({'faults: ' + ', '.join(args.sandbox_fault) if args.sandbox_fault else 'all healthy'}); "
            f"clock x{speed:g}; approvals granted automatically",
            flush=True,
        )
        # A shared (dynamodb://) state is not for throwaway runs: the sandbox stays local.
        local = os.path.join(local_dir(args.state_dir), SUBDIR)
        ex = executor(args, backend=box.backend, state_dir=local)
        try:
            with ex.signals():
                code = finish(ex.apply(plan, opts))
        finally:
            ex.close()
        for line in box.final_state():
            print(f"sandbox: {line}")
        if code in (EXIT_WAITING, EXIT_INTERRUPTED):
            print(
                "sandbox: this run cannot be resumed: its AWS ended with the process; "
                "the next --sandbox apply starts afresh"
            )
        return code
