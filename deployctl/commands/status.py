"""``deployctl status [RUN_ID] [--format json]``: a run's steps, attempts, timings, outputs."""

from __future__ import annotations

import argparse
import json
import sys

from deployctl.commands import _stepfunctions
from deployctl.errors import EXIT_OK, UserError
from deployctl.execute.status import render_text, run_status
from deployctl.state import open_store


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("status", parents=[common], help="show a run (default: the newest)")
    parser.add_argument("run_id", metavar="RUN_ID", nargs="?")
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    state = open_store(
        args.state_dir, profile=args.profile, region=args.region, endpoint_url=args.endpoint_url
    )
    journal = state.journal()
    try:
        run_id = args.run_id
        if run_id is None:
            runs = journal.runs()
            if not runs:
                raise UserError(f"no runs in {args.state_dir}")
            run_id = runs[0].run_id
        if _stepfunctions.engine_run(journal, run_id):  # AWS runs it: read the execution first
            _stepfunctions.refresh(state, journal, journal.get_run(run_id), args)
        status = run_status(journal, run_id)
    finally:
        journal.close()
    if args.format == "json":
        sys.stdout.write(json.dumps(status, indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(render_text(status))
    return EXIT_OK
