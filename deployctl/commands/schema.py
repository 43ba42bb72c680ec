"""``deployctl schema``: print the plan-file JSON Schema (for editors and CI)."""

from __future__ import annotations

import argparse
import sys

from deployctl.errors import EXIT_OK
from deployctl.manifest.schema import schema_text


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("schema", help="print the plan-file JSON Schema")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    sys.stdout.write(schema_text())
    return EXIT_OK
