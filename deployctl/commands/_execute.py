"""Shared by the execution commands: build the executor, print an outcome."""

from __future__ import annotations

import argparse
import sys

from deployctl.actions.registry import Backend, load_backend
from deployctl.errors import UserError
from deployctl.execute.api import Outcome, Reporter
from deployctl.execute.report import LiveReporter, PlainReporter
from deployctl.execute.runner import Executor, Options
from deployctl.execute.store import StateStore, open_store
from deployctl.manifest.durations import DurationError, parse_duration


def add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--auto-approve", action="store_true", help="approve every approval step (unattended runs)"
    )
    parser.add_argument(
        "--parallelism", type=int, default=10, metavar="N", help="steps run at once (default 10)"
    )
    parser.add_argument(
        "--wait-for-approval",
        metavar="DURATION",
        help="at an approval, stay up to DURATION (30m, 2h) watching the rollback triggers, "
        "and go on as soon as someone approves (default: pause with exit 6 at once)",
    )


def _wait(text: str | None) -> float:
    if not text:
        return 0.0
    try:
        return parse_duration(text.strip())
    except DurationError as exc:
        raise UserError(f"--wait-for-approval {text!r}: {exc}") from None


def options(args: argparse.Namespace) -> Options:
    return Options(
        parallelism=max(1, args.parallelism),
        auto_approve=args.auto_approve,
        abandon=getattr(args, "abandon", False),
        wait_for_approval=_wait(getattr(args, "wait_for_approval", None)),
    )


def store(args: argparse.Namespace, state_dir: str | None = None) -> StateStore:
    """The journal and locks ``--state-dir`` names, reached with the AWS options."""
    return open_store(
        state_dir or args.state_dir,
        profile=args.profile,
        region=args.region,
        endpoint_url=args.endpoint_url,
    )


def reporter() -> Reporter:
    """A live view on a terminal, plain lines in logs and CI."""
    return LiveReporter(sys.stdout) if sys.stdout.isatty() else PlainReporter(sys.stdout)


def executor(
    args: argparse.Namespace,
    *,
    quiet: bool = False,
    backend: Backend | None = None,
    state_dir: str | None = None,
) -> Executor:
    """The executor for ``args``; ``backend`` and ``state_dir`` override (the sandbox)."""
    if backend is None:
        backend = load_backend(
            profile=args.profile, region=args.region, endpoint_url=args.endpoint_url
        )
    return Executor(
        state_dir or args.state_dir,
        backend,
        None if quiet else reporter(),
        store=store(args, state_dir),
    )


def finish(outcome: Outcome) -> int:
    """The reporter already printed the outcome; only the exit code is left."""
    return outcome.exit_code
