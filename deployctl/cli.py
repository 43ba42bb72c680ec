"""``deployctl``: parse arguments, run one command, map errors to exit codes.

Each command lives in ``deployctl/commands/<name>.py`` with ``register(sub)``;
this module only wires them up and owns the single error handler.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

import deployctl
from deployctl import commands, secrets
from deployctl.core.defaults import DEFAULT_STATE_DIR
from deployctl.errors import EXIT_ERROR, EXIT_INTERRUPTED, DeployctlError, UserError


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad usage; 2 means "changes" here, so raise instead.

    The message names the subcommand once: ``deployctl: error: apply: the
    following arguments are required: PLAN (see deployctl apply --help)``.
    """

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("deployctl").strip()
        where = f"{command}: " if command else ""
        raise UserError(f"{where}{message} (see {self.prog} --help)")

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse's own asks shutil for the width, and every add_argument
        # makes a formatter: importing shutil (bz2, lzma...) cost ~4 ms.
        return self.formatter_class(prog=self.prog, width=_columns() - 2)  # type: ignore[call-arg]


def _columns() -> int:
    """``shutil.get_terminal_size().columns``, without importing shutil."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def common_options() -> argparse.ArgumentParser:
    # Here, not at the top: ``--version`` builds no command and needs none of
    # it (argtypes checks AWS names with dataclasses, and those import inspect).
    from deployctl import argtypes  # noqa: PLC0415

    common = _Parser(add_help=False)
    group = common.add_argument_group("common options")
    group.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a plan variable (repeatable)",
    )
    group.add_argument(
        "--vars-file", action="append", default=[], metavar="FILE", help="YAML file of variables"
    )
    group.add_argument(
        "--allow-path",
        action="append",
        default=[],
        metavar="DIR",
        help="let plans read files under DIR too, not only inside their repository (repeatable)",
    )
    group.add_argument(
        "--state-dir",
        default=DEFAULT_STATE_DIR,
        type=argtypes.state,
        metavar="DIR",
        help="journal and locks: a directory (default .deployctl) or dynamodb://TABLE[?region=R]",
    )
    group.add_argument(
        "--region", type=argtypes.region, help="default AWS region (a plan's regions: win)"
    )
    group.add_argument("--profile", help="AWS profile")
    group.add_argument(
        "--endpoint-url",
        type=argtypes.endpoint,
        metavar="URL",
        help="AWS endpoint (moto server, LocalStack)",
    )
    group.add_argument(
        "-v",
        "--verbose",
        dest="verbosity",
        action="count",
        default=0,
        help="more detail (every gate check)",
    )
    group.add_argument(
        "-q",
        "--quiet",
        dest="verbosity",
        action="store_const",
        const=-1,
        help="only failures, the outcome and the summary",
    )
    return common


def _apply_defaults(parser: argparse.ArgumentParser, defaults: dict[str, object]) -> None:
    """Config-file and environment defaults, on every subcommand that has the option."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                known = {a.dest for a in sub._actions}
                sub.set_defaults(**{k: v for k, v in defaults.items() if k in known})


class _Version(argparse.Action):
    """``--version``: the installed version, looked up only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> NoReturn:
        print(f"deployctl {deployctl.__version__}")  # stdout, as argparse's "version" does
        parser.exit()


def build_parser(
    names: Sequence[str] = commands.NAMES, defaults: dict[str, object] | None = None
) -> argparse.ArgumentParser:
    """The parser with the commands ``names`` (their modules are imported here);
    ``defaults`` (from :mod:`deployctl.config`) replace built-in ones."""
    parser = _Parser(prog="deployctl", description="Declarative deployment plans for AWS.")
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    modules = commands.load(names)
    if modules:  # --version alone builds no command, nor their common options
        common = common_options()
        for module in modules:
            module.register(sub, common)
    if defaults:
        _apply_defaults(parser, defaults)
    # `completion` describes every command: it builds the whole parser through
    # this (commands sit below the cli layer and never import it).
    parser.set_defaults(build_parser=build_parser)
    return parser


def _config_defaults() -> dict[str, object]:
    from deployctl import config  # noqa: PLC0415 - not for --version (difflib, dataclasses)

    return config.defaults()


def _crash_log(state_dir: str) -> str:
    """Append the traceback, redacted, to ``crash.log`` (0600 in a 0700 directory)."""
    import traceback  # noqa: PLC0415 - only after a crash

    from deployctl.state import local_dir  # noqa: PLC0415 - only after a crash
    from deployctl.state.files import private_dir, private_file  # noqa: PLC0415

    state_dir = local_dir(state_dir)  # a shared (DynamoDB) state keeps its crash log here
    path = os.path.join(state_dir, "crash.log")
    try:
        path = os.path.join(private_dir(state_dir), "crash.log")
        with os.fdopen(private_file(path), "a", encoding="utf-8") as fh:
            fh.write(secrets.redact(traceback.format_exc()))
    except OSError as exc:  # the error is still one line, without a log to point at
        return f"nowhere: {path}: {exc.strerror or exc}"
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; everything it writes to stdout, stderr and the crash
    log is redacted with every secret it learnt (:mod:`deployctl.secrets`)."""
    with secrets.guarded_streams():
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    args: argparse.Namespace | None = None
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        names = commands.wanted(argv)
        # --version alone reads no config file: it must answer whatever the directory holds
        defaults = _config_defaults() if names else None
        args = build_parser(names, defaults).parse_args(argv)
        code: int = args.run(args)
        return code
    except UserError as exc:
        from deployctl.diagnostics import report  # noqa: PLC0415 - not for --version

        report(exc.diagnostics, sys.stderr)
        return exc.exit_code
    except DeployctlError as exc:
        print(f"deployctl: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("deployctl: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_ERROR
    except Exception as exc:
        try:
            where = _crash_log(getattr(args, "state_dir", DEFAULT_STATE_DIR))
        except DeployctlError as unwritable:
            where = f"not written: {unwritable}"
        print(
            f"deployctl: internal error: {type(exc).__name__}: {exc} (traceback in {where})",
            file=sys.stderr,
        )
        return EXIT_ERROR
