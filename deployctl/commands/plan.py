"""``deployctl plan PLAN``: the compiled plan, for people or programs.

``--offline`` compiles without reading AWS.  (Reading live state for a diff is
issue 6; until then every plan is offline.)
"""

from __future__ import annotations

import argparse
import sys

from deployctl.commands._load import load_plan
from deployctl.errors import EXIT_CHANGES, EXIT_OK, UserError
from deployctl.output.planview import render_json, render_markdown, render_text

RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("plan", parents=[common], help="show what a plan would do")
    parser.add_argument("plan", metavar="PLAN")
    parser.add_argument("--format", choices=sorted(RENDERERS), default="text")
    parser.add_argument("--out", metavar="FILE", help="also write the output here")
    parser.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 2 when the plan would change anything",
    )
    parser.add_argument(
        "--offline", action="store_true", help="compile only; read nothing from AWS"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    plan = load_plan(args.plan, args)
    text = RENDERERS[args.format](plan)
    if args.out:
        try:
            with open(args.out, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise UserError(f"--out {args.out}: {exc.strerror}") from None
    sys.stdout.write(text)
    changes = any(step.mutating for step in plan.steps)
    return EXIT_CHANGES if args.detailed_exitcode and changes else EXIT_OK
