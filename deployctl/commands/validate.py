"""``deployctl validate PLAN...``: every problem in every file, then exit 1 if any."""

from __future__ import annotations

import argparse
import sys

from deployctl.commands._load import load_plan
from deployctl.errors import EXIT_ERROR, EXIT_OK, UserError


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "validate", parents=[common], help="check plan files; report every problem"
    )
    parser.add_argument("plans", nargs="+", metavar="PLAN")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    failed = False
    for path in args.plans:
        try:
            plan = load_plan(path, args)
        except UserError as exc:
            failed = True
            for diagnostic in exc.diagnostics:
                print(f"deployctl: {diagnostic.render()}", file=sys.stderr)
            continue
        print(f"{path}: ok ({plan.kind}, {len(plan.steps)} steps)")
    return EXIT_ERROR if failed else EXIT_OK
