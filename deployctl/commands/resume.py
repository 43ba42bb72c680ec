"""``deployctl resume RUN_ID``: continue a paused or cut-off run from its journal."""

from __future__ import annotations

import argparse

from deployctl.commands import _stepfunctions
from deployctl.commands._execute import add_run_options, executor, finish, options, store


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("resume", parents=[common], help="continue an unfinished run")
    parser.add_argument("run_id", metavar="RUN_ID")
    add_run_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if _stepfunctions.is_engine_run(store(args), args.run_id):
        return _stepfunctions.resume(store(args), args.run_id, args)
    ex = executor(args)
    try:
        with ex.signals():
            return finish(ex.resume(args.run_id, options(args)))
    finally:
        ex.close()
