"""Golden cases: ``<cases>/<name>/plan.yaml`` compiles to ``expected.json``.

A case whose plan is wrong expects ``{"errors": [...]}``: the exact one-line
diagnostics.  A case may hold ``options.json``: ``{"vars": {...}}`` are
``--var`` values (strings, as a shell gives them), ``{"vars_files": [...]}``
are ``--vars-file`` paths inside the case folder.  The suite's cases are ``tests/cases``; ``python
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


def _options(folder: Path) -> LoadOptions:
    given = folder / "options.json"
    spec = json.loads(given.read_text(encoding="utf-8")) if given.is_file() else {}
    return LoadOptions(
        vars={str(k): str(v) for k, v in spec.get("vars", {}).items()},
        vars_files=tuple(spec.get("vars_files", ())),
        environ={},
    )


def run_case(folder: Path) -> dict[str, Any]:
    with _inside(folder):
        try:
            plan = compile_plan(load_file("plan.yaml", _options(folder)), "plan.yaml")
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
