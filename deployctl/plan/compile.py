"""Dispatch each manifest kind to its compiler and join documents into one plan."""

from __future__ import annotations

from collections.abc import Sequence

from deployctl.errors import UserError
from deployctl.manifest.model import Manifest
from deployctl.plan.api import Plan


def compile_plan(manifests: Sequence[Manifest], source: str) -> Plan:
    raise UserError("compile: not written yet")
