"""``deployctl validate PLAN...``: every problem in every file, then exit 1 if any."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from deployctl.commands._load import load_plan
from deployctl.diagnostics import report
from deployctl.errors import EXIT_ERROR, EXIT_OK, UserError

FORMAT_VERSION = 1


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "validate", parents=[common], help="check plan files; report every problem"
    )
    parser.add_argument("plans", nargs="+", metavar="PLAN")
    parser.add_argument(
        "--format",
        choices=["text", "json"],
        default="text",
        help="json: one document on standard output with every file and problem",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    failed = False
    files: list[dict[str, Any]] = []
    quiet = getattr(args, "verbosity", 0) < 0
    for path in args.plans:
        try:
            plan = load_plan(path, args)
        except UserError as exc:
            failed = True
            files.append(
                {"file": path, "ok": False, "problems": [_problem(d) for d in exc.diagnostics]}
            )
            if args.format == "text":
                report(exc.diagnostics, sys.stderr)
            continue
        if args.format == "json":  # the digest serializes the whole plan: only when shown
            files.append(
                {
                    "file": path,
                    "ok": True,
                    "kind": plan.kind,
                    "steps": len(plan.steps),
                    "digest": plan.digest,
                    "problems": [],
                }
            )
        elif not quiet:
            print(f"{path}: ok ({plan.kind}, {len(plan.steps)} steps)")
    if args.format == "json":
        body = {"format_version": FORMAT_VERSION, "ok": not failed, "files": files}
        sys.stdout.write(json.dumps(body, indent=2, sort_keys=True) + "\n")
    return EXIT_ERROR if failed else EXIT_OK


def _problem(diagnostic: Any) -> dict[str, Any]:
    return {
        "file": diagnostic.file,
        "line": diagnostic.line,
        "col": diagnostic.col,
        "column": diagnostic.col,  # the name editors and CI annotations use
        "severity": diagnostic.severity,
        "path": list(diagnostic.path or ()),
        "message": diagnostic.message,
        "text": diagnostic.render(),
    }
