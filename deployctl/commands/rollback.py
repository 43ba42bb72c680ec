"""``deployctl rollback PLAN|RUN_ID``: undo a finished or paused run by hand."""

from __future__ import annotations

import argparse
import os

from deployctl.commands import _stepfunctions
from deployctl.commands._execute import executor, finish, store
from deployctl.commands._load import load_plan
from deployctl.errors import UserError


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("rollback", parents=[common], help="undo a run's completed steps")
    parser.add_argument("target", metavar="PLAN|RUN_ID")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not os.path.isfile(args.target) and _stepfunctions.is_engine_run(store(args), args.target):
        return _stepfunctions.rollback(store(args), args.target, args)
    ex = executor(args)
    try:
        run_id, plan = args.target, None
        if os.path.isfile(args.target):
            # A plan file means its newest run for this project and environment.
            plan = load_plan(args.target, args)
            runs = [
                r
                for r in ex.journal.runs(plan.project, plan.environment)
                if r.digest == plan.digest
            ]
            if not runs:
                raise UserError(f"{args.target}: no run of this plan in {args.state_dir}")
            run_id = runs[0].run_id
        with ex.signals():
            return finish(ex.rollback(run_id, plan))
    finally:
        ex.close()
