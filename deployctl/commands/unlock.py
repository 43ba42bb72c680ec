"""``deployctl unlock LOCK_ID``: free a lock whose run is known to be dead."""

from __future__ import annotations

import argparse

from deployctl.commands._execute import cli_options
from deployctl.core.ports import NextAction
from deployctl.errors import EXIT_OK
from deployctl.state import open_store


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("unlock", parents=[common], help="free a (project/environment) lock")
    parser.add_argument("lock_id", metavar="LOCK_ID", help="project/environment")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    store = open_store(
        args.state_dir, profile=args.profile, region=args.region, endpoint_url=args.endpoint_url
    )
    was = store.unlock(args.lock_id)
    print(f"unlocked {was.describe()}")
    then = NextAction("resume", ("resume", was.run_id), cli_options(args))
    print(f"run {was.run_id} can be continued with: {then.command}")
    return EXIT_OK
