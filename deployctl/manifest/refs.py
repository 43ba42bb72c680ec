"""``${...}`` runtime references in a rendered plan document: every name must
be one the executor will know, and every secret reference well formed."""

from __future__ import annotations

import re
from typing import Any

from deployctl.core.refs import REF
from deployctl.diagnostics import Diagnostic, Marks, Path
from deployctl.manifest.secrets import secret_ref, ssm_name_problem

RUNTIME_NAMES = frozenset(
    {
        "new_version",
        "stable_version",
        "live_color",
        "idle_color",
        "region",
        "snapshot_id",
        "run_id",
        "new_target_group",
        "task_definition",
    }
)
_STEP_REF = re.compile(r"^steps\.[A-Za-z0-9_.:/-]+\.[A-Za-z0-9_]+$")


StepRefs = list[tuple[str, Path, int]]  # ${steps...} text, where it is, offset in the value


def check_runtime_refs(
    value: Any, marks: Marks, path: Path, errors: list[Diagnostic], steps: StepRefs | None = None
) -> None:
    """Point at every ``${name}`` that the executor will not know, and at every
    malformed secret reference (``${ssm:}``, ``${ssm:relative}``).  Each
    ``${steps...}`` goes to ``steps``: only the compiled plan can check it."""
    if isinstance(value, str):
        for match in REF.finditer(value):
            name = match.group(1).strip()
            if _STEP_REF.match(name) and steps is not None:
                steps.append((match.group(0), path, match.start()))
            if name in RUNTIME_NAMES or _STEP_REF.match(name):
                continue
            secret = secret_ref(name)
            if secret is not None:
                problem = ssm_name_problem(secret[1])
                if problem is None:
                    continue
                message = (
                    f"malformed SSM reference ${{{name}}}: {problem} "
                    "(expected ${ssm:/path/to/parameter})"
                )
            else:
                known = ", ".join(sorted(RUNTIME_NAMES))
                message = (
                    f"unknown runtime reference ${{{name}}} "
                    f"(known: {known}, steps.<step-id>.<output>, ssm:/path/to/parameter)"
                )
            errors.append(marks.diag(path, message, offset=match.start()))
    elif isinstance(value, dict):
        for key, item in value.items():
            check_runtime_refs(item, marks, (*path, key), errors, steps)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_runtime_refs(item, marks, (*path, index), errors, steps)
