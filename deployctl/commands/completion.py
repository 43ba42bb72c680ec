"""``deployctl completion bash|zsh|tcsh``: a shell completion script (shtab,
the ``completion`` extra), generated from this very parser so it never
drifts from the commands and options."""

from __future__ import annotations

import argparse
import sys

from deployctl.errors import EXIT_OK, UserError

SHELLS = ("bash", "zsh", "tcsh")
_FILES = frozenset({"plan", "plans", "vars_file", "out"})  # complete these as file names


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "completion",
        help="print a shell completion script",
        description="Print a completion script, e.g. for bash: "
        "deployctl completion bash > ~/.local/share/bash-completion/completions/deployctl",
    )
    parser.add_argument("shell", choices=SHELLS)
    parser.set_defaults(run=run)


def _mark_files(parser: argparse.ArgumentParser, shtab: object) -> None:
    for action in parser._actions:
        if action.dest in _FILES:
            action.complete = shtab.FILE  # type: ignore[attr-defined]
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _mark_files(child, shtab)


def run(args: argparse.Namespace) -> int:
    try:
        import shtab  # noqa: PLC0415 - the completion extra
    except ImportError:
        raise UserError(
            "shell completion needs shtab: pip install 'deployctl[completion]'"
        ) from None
    parser: argparse.ArgumentParser = args.build_parser()  # every command (set by the cli)
    _mark_files(parser, shtab)
    sys.stdout.write(shtab.complete(parser, shell=args.shell))
    return EXIT_OK
