"""``deployctl apply PLAN``: run a plan, or continue its unfinished run."""

from __future__ import annotations

import argparse
import dataclasses

from deployctl.commands import _sandbox
from deployctl.commands._execute import add_run_options, executor, finish, options
from deployctl.commands._load import load_plan
from deployctl.preview import planfile


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "apply", parents=[common], help="run a plan (resumes its unfinished run)"
    )
    parser.add_argument("plan", metavar="PLAN")
    add_run_options(parser)
    parser.add_argument(
        "--abandon",
        action="store_true",
        help="give up the unfinished run of this project/environment and start anew",
    )
    _sandbox.add_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    _sandbox.check_options(args)
    saved = planfile.read(args.plan)  # a reviewed plan from 'plan --out'
    plan = (
        planfile.load(saved, lambda src: load_plan(src, args))
        if saved
        else load_plan(args.plan, args)
    )
    if args.sandbox:
        return _sandbox.run(plan, args)
    ex = executor(args)
    try:
        opts = options(args)
        if saved:
            opts = dataclasses.replace(opts, review=planfile.review(saved))
        with ex.signals():
            return finish(ex.apply(plan, opts))
    finally:
        ex.close()
