"""``deployctl runs``: every run in the state directory, newest first."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from deployctl.commands._sandbox import SUBDIR
from deployctl.errors import EXIT_OK
from deployctl.execute.store import local_dir, open_store

FORMAT_VERSION = 1


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("runs", parents=[common], help="list runs, newest first")
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help=f"the sandbox's runs (kept under STATE_DIR/{SUBDIR}) instead of real ones",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    state_dir = args.state_dir
    if args.sandbox:
        state_dir = os.path.join(local_dir(state_dir), SUBDIR)
    journal = open_store(
        state_dir, profile=args.profile, region=args.region, endpoint_url=args.endpoint_url
    ).journal()
    try:
        runs = journal.runs()
    finally:
        journal.close()
    if args.format == "json":
        body = {"format_version": FORMAT_VERSION, "runs": [r.to_json() for r in runs]}
        sys.stdout.write(json.dumps(body, indent=2, sort_keys=True) + "\n")
        return EXIT_OK
    if not runs:
        print(f"no runs in {state_dir}")
    for r in runs:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(r.created))
        print(
            f"{r.run_id}  {r.status:<19} {r.project}/{r.environment}  {when}  "
            f"{r.digest[:12]}  {r.source}"
        )
    return EXIT_OK
