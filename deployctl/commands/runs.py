"""``deployctl runs``: every run in the state directory, newest first."""

from __future__ import annotations

import argparse
import time

from deployctl.errors import EXIT_OK
from deployctl.state import open_store


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("runs", parents=[common], help="list runs, newest first")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    journal = open_store(
        args.state_dir, profile=args.profile, region=args.region, endpoint_url=args.endpoint_url
    ).journal()
    try:
        runs = journal.runs()
    finally:
        journal.close()
    if not runs:
        print(f"no runs in {args.state_dir}")
    for r in runs:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(r.created))
        print(
            f"{r.run_id}  {r.status:<19} {r.project}/{r.environment}  {when}  "
            f"{r.digest[:12]}  {r.source}"
        )
    return EXIT_OK
