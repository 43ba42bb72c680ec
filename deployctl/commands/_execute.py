"""Shared by the execution commands: build the executor, print an outcome."""

from __future__ import annotations

import argparse
import sys

from deployctl.actions import registry
from deployctl.actions.registry import Backend
from deployctl.execute.api import MultiReporter, Outcome, Reporter
from deployctl.execute.report import LiveReporter, PlainReporter
from deployctl.execute.runner import Executor, Options
from deployctl.output.redact import Redactor
from deployctl.plan.api import Plan
from deployctl.state import open_store
from deployctl.state.api import RunInfo, StateStore


def add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--auto-approve", action="store_true", help="approve every approval step (unattended runs)"
    )
    parser.add_argument(
        "--parallelism", type=int, default=10, metavar="N", help="steps run at once (default 10)"
    )


def options(args: argparse.Namespace) -> Options:
    return Options(
        parallelism=max(1, args.parallelism),
        auto_approve=args.auto_approve,
        abandon=getattr(args, "abandon", False),
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


class Secrets(Reporter):
    """Hands every secret value a run learns to the command's redactor (the
    crash log is redacted with it)."""

    def __init__(self, redact: Redactor) -> None:
        self.redact = redact

    def run_started(self, run: RunInfo, plan: Plan, resumed: bool) -> None:
        self.redact.add(*plan.secret_values)

    def secret(self, value: str) -> None:
        self.redact.add(value)


def executor(
    args: argparse.Namespace,
    *,
    quiet: bool = False,
    backend: Backend | None = None,
    state_dir: str | None = None,
) -> Executor:
    """The executor for ``args``; ``backend`` and ``state_dir`` override (the sandbox)."""
    if backend is None:
        # Looked up when called: the test harness (deployctl.testing.cli)
        # swaps in the fake world or crash hooks in the process it runs us in.
        backend = registry.load_backend(
            profile=args.profile, region=args.region, endpoint_url=args.endpoint_url
        )
    view = [] if quiet else [reporter()]
    redact: Redactor | None = getattr(args, "redact", None)
    return Executor(
        state_dir or args.state_dir,
        backend,
        MultiReporter([*view, *([Secrets(redact)] if redact is not None else [])]),
        store=store(args, state_dir),
    )


def finish(outcome: Outcome) -> int:
    """The reporter already printed the outcome; only the exit code is left."""
    return outcome.exit_code
