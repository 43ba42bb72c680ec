"""Render ``{{ ... }}`` in string values, one value at a time, in a sandbox.

Only strings are rendered, never the raw file, so a rendered value cannot add
YAML structure.  The sandbox is immutable and undefined names are errors;
``env("NAME")`` is the only door to the process environment.  ``${...}``
runtime references pass through untouched for the executor.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any

import jinja2
import jinja2.sandbox
from jinja2.exceptions import SecurityError

from deployctl.diagnostics import Diagnostic, Marks, Path

RUNTIME_REF = re.compile(r"\$\{([^}]*)\}")
RUNTIME_NAMES = frozenset(
    {"new_version", "stable_version", "live_color", "idle_color", "region", "snapshot_id", "run_id"}
)
_STEP_REF = re.compile(r"^steps\.[A-Za-z0-9_.:/-]+\.[A-Za-z0-9_]+$")


class _MissingEnv(Exception):
    pass


def _env_lookup(environ: Mapping[str, str]) -> Callable[..., str]:
    def env(name: str, default: str | None = None) -> str:
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise _MissingEnv(f"environment variable {name!r} is not set")

    return env


class Renderer:
    def __init__(
        self, context: Mapping[str, Any], environ: Mapping[str, str] | None = None
    ) -> None:
        self.env = jinja2.sandbox.ImmutableSandboxedEnvironment(
            undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
        )
        self.env.globals = {"env": _env_lookup(os.environ if environ is None else environ)}
        self.context = dict(context)
        self._cache: dict[str, jinja2.Template] = {}

    def render_str(self, text: str) -> str:
        if "{{" not in text and "{%" not in text:
            return text
        template = self._cache.get(text)
        if template is None:
            template = self._cache[text] = self.env.from_string(text)
        return template.render(self.context)

    def render(self, value: Any, marks: Marks, path: Path, errors: list[Diagnostic]) -> Any:
        """``value`` with every string rendered; problems go to ``errors``."""
        if isinstance(value, str):
            try:
                rendered = self.render_str(value)
                if rendered != value:  # columns inside it no longer match the file
                    marks.verbatim.discard(path)
                return rendered
            except jinja2.TemplateSyntaxError as exc:
                errors.append(marks.diag(path, f"template error: {exc.message}"))
            except jinja2.UndefinedError as exc:
                errors.append(marks.diag(path, f"template error: {exc.message}"))
            except SecurityError as exc:
                errors.append(marks.diag(path, f"template error: not allowed: {exc}"))
            except _MissingEnv as exc:
                errors.append(marks.diag(path, f"template error: {exc}"))
            except Exception as exc:
                errors.append(marks.diag(path, f"template error: {type(exc).__name__}: {exc}"))
            return value
        if isinstance(value, dict):
            return {k: self.render(v, marks, (*path, k), errors) for k, v in value.items()}
        if isinstance(value, list):
            return [self.render(v, marks, (*path, i), errors) for i, v in enumerate(value)]
        return value


def check_runtime_refs(value: Any, marks: Marks, path: Path, errors: list[Diagnostic]) -> None:
    """Point at every ``${name}`` that the executor will not know."""
    if isinstance(value, str):
        for match in RUNTIME_REF.finditer(value):
            name = match.group(1).strip()
            if name in RUNTIME_NAMES or _STEP_REF.match(name):
                continue
            known = ", ".join(sorted(RUNTIME_NAMES))
            errors.append(
                marks.diag(
                    path,
                    f"unknown runtime reference ${{{name}}} (known: {known}, steps.<step-id>.<output>)",
                    offset=match.start(),
                )
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            check_runtime_refs(item, marks, (*path, key), errors)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_runtime_refs(item, marks, (*path, index), errors)
