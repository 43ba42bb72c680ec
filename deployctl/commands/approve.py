"""``deployctl approve RUN_ID [STEP]``: record an approval; ``resume`` goes on."""

from __future__ import annotations

import argparse

from deployctl.commands._execute import cli_options, executor
from deployctl.core.ports import NextAction
from deployctl.errors import EXIT_OK


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("approve", parents=[common], help="approve a waiting step")
    parser.add_argument("run_id", metavar="RUN_ID")
    parser.add_argument(
        "step",
        metavar="STEP",
        nargs="?",
        help="an approval step (default: every step the run waits on)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    ex = executor(args, quiet=True)
    try:
        approved = ex.approve(args.run_id, args.step)
    finally:
        ex.close()
    for step in approved:
        print(f"approved {step} of run {args.run_id} as {ex.user}")
    print(NextAction("continue with", ("resume", args.run_id), cli_options(args)))
    return EXIT_OK
