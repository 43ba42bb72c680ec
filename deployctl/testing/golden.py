"""Golden cases: ``<cases>/<name>/plan.yaml`` compiles to ``expected.json``.

A case whose plan is wrong expects ``{"errors": [...]}``: the exact one-line
diagnostics.  The suite's cases are ``tests/cases``; ``python
tests/regen_cases.py`` rewrites every expected.json there: review the diff
before committing it.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from deployctl.errors import UserError
from deployctl.manifest import LoadOptions, load_file
from deployctl.output.planview import plan_json
from deployctl.plan import compile_plan


@contextlib.contextmanager
def _inside(folder: Path) -> Iterator[None]:
    # Cases compile from their own folder so relative paths in them stay stable.
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def run_case(folder: Path) -> dict[str, Any]:
    with _inside(folder):
        try:
            plan = compile_plan(load_file("plan.yaml", LoadOptions(environ={})), "plan.yaml")
        except UserError as exc:
            return {"errors": [d.render() for d in exc.diagnostics]}
        return plan_json(plan)


def case_names(cases: Path) -> list[str]:
    return sorted(p.name for p in cases.iterdir() if (p / "plan.yaml").is_file())


def expected(folder: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    return result


def dump(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2, sort_keys=True) + "\n"
