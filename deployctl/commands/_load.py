"""Shared by commands: turn common options into :class:`LoadOptions` and load."""

from __future__ import annotations

import argparse
import dataclasses
import os

from deployctl.core.plan import Plan
from deployctl.errors import UserError
from deployctl.manifest import LoadOptions, load_file
from deployctl.manifest.model import Manifest
from deployctl.plan import compile_plan
from deployctl.plan.compile import flat_docs
from deployctl.secrets import Redactor, remember


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
    manifests = load_manifests(path, args)
    try:
        plan = compile_plan(manifests, path)
    except UserError as exc:
        # A problem found while compiling quotes its source line: hide the file's secrets there.
        hide = Redactor(
            str(v)
            for doc in flat_docs(manifests)
            for k, v in doc.header.vars
            if k in doc.header.secret_vars and v
        )
        hide.add(*(s for doc in flat_docs(manifests) for s in doc.header.env_secrets))
        raise UserError(
            [
                dataclasses.replace(d, source=None if d.source is None else hide(d.source))
                for d in exc.diagnostics
            ]
        ) from None
    remember(*plan.secret_values)
    return plan
