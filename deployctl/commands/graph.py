"""``deployctl graph PLAN --format dot|mermaid``: the step DAG as a picture source."""

from __future__ import annotations

import argparse
import sys

from deployctl.commands._load import load_plan
from deployctl.errors import EXIT_OK
from deployctl.output.graphview import render_dot, render_mermaid


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("graph", parents=[common], help="print the step graph (DOT or Mermaid)")
    parser.add_argument("plan", metavar="PLAN")
    parser.add_argument("--format", choices=["dot", "mermaid"], default="dot")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    plan = load_plan(args.plan, args)
    sys.stdout.write(render_dot(plan) if args.format == "dot" else render_mermaid(plan))
    return EXIT_OK
