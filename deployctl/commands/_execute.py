"""Shared by the execution commands: build the executor, print an outcome."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping

from deployctl import argtypes
from deployctl.actions import registry
from deployctl.actions.registry import Backend
from deployctl.core.defaults import DEFAULT_STATE_DIR
from deployctl.core.ports import MultiReporter, Outcome, Reporter
from deployctl.errors import UserError
from deployctl.execute.runner import Executor, Options
from deployctl.manifest.durations import DurationError, parse_duration
from deployctl.output.log import GITHUB, HEARTBEAT, PLAIN, LogReporter
from deployctl.state import open_store
from deployctl.state.api import StateStore

LOG_FORMATS = ("auto", "live", "plain", "github")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--auto-approve", action="store_true", help="approve every approval step (unattended runs)"
    )
    parser.add_argument(
        "--parallelism",
        type=argtypes.at_least_one,
        default=10,
        metavar="N",
        help="steps run at once (default 10)",
    )
    parser.add_argument(
        "--wait-for-approval",
        metavar="DURATION",
        help="at an approval, stay up to DURATION (30m, 2h) watching the rollback triggers, "
        "and go on as soon as someone approves (default: pause with exit 6 at once)",
    )
    add_log_options(parser)


def _wait(text: str | None) -> float:
    if not text:
        return 0.0
    try:
        return parse_duration(text.strip())
    except DurationError as exc:
        raise UserError(f"--wait-for-approval {text!r}: {exc}") from None


def add_log_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default="auto",
        help="live: panels on a terminal; plain: timestamped lines; github: plain with "
        "::group::/::error:: and $GITHUB_STEP_SUMMARY; auto (default): github when "
        "GITHUB_ACTIONS=true, live on a terminal, else plain",
    )
    parser.add_argument(
        "--heartbeat",
        default="15m",
        metavar="DURATION",
        help="in plain and github logs, a line with the checks so far this often "
        "during a gate (default 15m)",
    )


def options(args: argparse.Namespace) -> Options:
    if args.parallelism < 1:  # a config file or DEPLOYCTL_PARALLELISM skips --parallelism's type
        raise UserError(f"parallelism must be at least 1, got {args.parallelism}")
    return Options(
        parallelism=args.parallelism,
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


def log_format(requested: str, environ: Mapping[str, str], tty: bool) -> str:
    """What ``--log-format auto`` means here."""
    if requested != "auto":
        return requested
    if environ.get("GITHUB_ACTIONS") == "true":
        return GITHUB
    if tty and environ.get("TERM") != "dumb":
        return "live"
    return PLAIN


def _heartbeat(args: argparse.Namespace) -> float:
    text = getattr(args, "heartbeat", None)
    if not text:
        return HEARTBEAT
    try:
        seconds = parse_duration(str(text))
    except DurationError as exc:
        raise UserError(f"--heartbeat: {exc}") from None
    if seconds <= 0:
        raise UserError("--heartbeat must be longer than 0s")
    return seconds


def reporter(args: argparse.Namespace, now: Callable[[], float]) -> Reporter:
    """A live view on a terminal, timestamped lines in logs and CI (see --log-format)."""
    verbosity = int(getattr(args, "verbosity", 0) or 0)
    fmt = log_format(getattr(args, "log_format", "auto"), os.environ, sys.stdout.isatty())
    if fmt == "live":
        from rich.console import Console  # noqa: PLC0415 - rich only on a terminal

        from deployctl.output.live import LiveView  # noqa: PLC0415

        return LiveView(Console(file=sys.stdout, highlight=False), now=now)
    return LogReporter(
        sys.stdout,
        now=now,
        style=fmt,
        verbosity=verbosity,
        heartbeat=_heartbeat(args),
        step_summary=os.environ.get("GITHUB_STEP_SUMMARY") or None,
    )


def cli_options(args: argparse.Namespace, state_dir: str | None = None) -> tuple[str, ...]:
    """The options this command was given that say where the run's state and
    AWS are: what a "resume with ..." line must repeat to reach the run again.
    Plan variables are left out (the journal holds the compiled plan, and a
    value may be a secret)."""
    out: list[str] = []
    where = state_dir or args.state_dir
    if where != DEFAULT_STATE_DIR:
        out += ["--state-dir", where]
    for flag, value in (
        ("--endpoint-url", getattr(args, "endpoint_url", None)),
        ("--region", getattr(args, "region", None)),
        ("--profile", getattr(args, "profile", None)),
    ):
        if value:
            out += [flag, str(value)]
    return tuple(out)


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
    view = None if quiet else reporter(args, backend.clock.now)
    if view is not None and backend.sns is not None:
        from deployctl.notify import Notifier  # noqa: PLC0415 - only when a backend sends

        view = MultiReporter([view, Notifier(sns=backend.sns, log=view.message)])
    hooks = [view] if view is not None else []
    return Executor(
        state_dir or args.state_dir,
        backend,
        MultiReporter(hooks),
        store=store(args, state_dir),
        cli_options=cli_options(args, state_dir),
    )


def finish(outcome: Outcome) -> int:
    """The reporter already printed the outcome; only the exit code is left."""
    return outcome.exit_code
