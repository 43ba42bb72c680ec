"""Shared by commands: turn common options into :class:`LoadOptions` and load."""

from __future__ import annotations

import argparse
import os

from deployctl.core.plan import Plan
from deployctl.errors import UserError
from deployctl.manifest import LoadOptions, load_file
from deployctl.manifest.model import Manifest
from deployctl.plan import compile_plan
from deployctl.secrets import remember


def load_options(args: argparse.Namespace) -> LoadOptions:
    variables = {}
    for item in args.var:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--var {item!r}: expected KEY=VALUE")
        variables[key.strip()] = value
    allowed = getattr(args, "allow_path", ())  # absent when a test builds the namespace
    for folder in allowed:
        if not os.path.isdir(folder):
            raise UserError(f"--allow-path {folder!r}: not a directory")
    return LoadOptions(
        vars=variables,
        vars_files=tuple(args.vars_file),
        region=args.region,
        allowed_paths=tuple(os.path.abspath(folder) for folder in allowed),
    )


def load_manifests(path: str, args: argparse.Namespace) -> list[Manifest]:
    return load_file(path, load_options(args))


def load_plan(path: str, args: argparse.Namespace) -> Plan:
    """Compile every document of ``path`` into one plan; its secret values are
    hidden from everything this process writes from now on."""
    plan = compile_plan(load_manifests(path, args), path)
    remember(*plan.secret_values)
    return plan
