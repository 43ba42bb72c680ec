"""``deployctl export PLAN --format asl|iam-policy``: the plan for another engine.

``asl``: the compiled plan as an Amazon States Language definition for AWS
Step Functions (docs/engines.md); the state-transition estimate of a
healthy run goes to stderr.  ``iam-policy``: the least-privilege policy its
state machine role needs.  No AWS calls.
"""

from __future__ import annotations

import argparse
import json
import sys

from deployctl.commands._load import load_plan
from deployctl.errors import EXIT_OK


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "export",
        parents=[common],
        help="print the plan as a Step Functions definition (asl) or its IAM policy",
    )
    parser.add_argument("plan", metavar="PLAN")
    parser.add_argument("--format", choices=["asl", "iam-policy"], default="asl")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from deployctl.stepfunctions import asl, iam  # noqa: PLC0415 - only this command needs it

    plan = load_plan(args.plan, args)
    machine = asl.translate(plan)
    if args.format == "asl":
        json.dump(machine.definition, sys.stdout, indent=2)
        sys.stdout.write("\n")
        transitions = machine.transitions()["healthy"]
        print(
            f"# {asl.machine_name(plan)}: {len(machine.definition['States'])} states, "
            f"about {transitions} state transitions per healthy run, "
            f"{len(machine.alarms)} alarm(s), "
            f"watching {len({a for names in machine.watched.values() for a in names})} "
            "existing alarm(s)",
            file=sys.stderr,
        )
    else:
        json.dump(iam.policy(machine), sys.stdout, indent=2)
        sys.stdout.write("\n")
    return EXIT_OK
