"""Render ``{{ ... }}`` in string values, one value at a time, in a sandbox.

Only strings are rendered, never the raw file, so a rendered value cannot add
YAML structure.  The sandbox is immutable and undefined names are errors;
``env("NAME")`` is the only door to the process environment.  ``${...}``
runtime references (``${new_version}``, ``${ssm:/path}``...) pass through
untouched for the executor.  Loops and calls spend a per-file CPU budget
(:class:`RenderBudget`), so a template that never ends is an error, not a hang.
"""

from __future__ import annotations

import functools
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import jinja2
import jinja2.sandbox
from jinja2 import nodes
from jinja2.compiler import CodeGenerator
from jinja2.exceptions import SecurityError

from deployctl.diagnostics import Diagnostic, Marks, Path
from deployctl.manifest.secrets import secret_ref, ssm_name_problem

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


MAX_RESULT = 100_000  # characters or items one template expression may build
_NESTED_SPEC = re.compile(r"\{[^{}]*:[^{}]*\{")  # '{0:{1}}': a width taken from an argument
_WIDE = re.compile(r"\d{6,}")  # a width or precision of 100000 or more in a format spec


RENDER_SECONDS = 2.0  # CPU time the templates of one plan file may spend in loops and calls


class OverBudget(Exception):
    """The templates of one plan file spent their :class:`RenderBudget`."""


class RenderBudget:
    """CPU time the templates of one plan file may spend looping and calling.

    The size guards below stop a single step that builds a huge value; they
    cannot stop ``{% for a in s %}{% for b in s %}...`` over two 100,000-item
    strings, ten billion cheap steps.  The generated code ticks the budget on
    every loop iteration, call, and item a filter maps or selects; every
    1,024th tick reads ``clock`` (CPU time of this thread by default, so a
    busy machine does not fail a plan that a quiet one accepts), and only
    while a template renders.  A template with fewer ticks never reads it.
    """

    CHECK_EVERY = 1024

    def __init__(
        self, seconds: float | None = None, clock: Callable[[], float] = time.thread_time
    ) -> None:
        self.seconds = RENDER_SECONDS if seconds is None else seconds
        self.clock = clock
        self.spent = 0.0
        self._ticks = 0
        self._since: float | None = None  # clock at the first check of this template

    def tick(self) -> None:
        self._ticks += 1
        if self._ticks % self.CHECK_EVERY:
            return
        now = self.clock()
        if self._since is None:
            self._since = now
        elif self.spent + now - self._since > self.seconds:
            raise OverBudget(
                f"rendering took more than {self.seconds:g} s of CPU"
                " (a loop or recursion without bound?)"
            )

    def iterate(self, values: Iterable[Any]) -> Iterator[Any]:
        for value in values:
            self.tick()
            yield value

    def done(self) -> None:
        """One template has finished (or failed): bank the time it used."""
        if self._since is not None:
            self.spent += self.clock() - self._since
            self._since = None


class _BudgetedLoops(CodeGenerator):
    """Jinja's code generator, with every ``{% for %}`` iterable passed through
    ``environment.budget.iterate``: the only hook inside a Python-level loop."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loop_iterables: set[int] = set()

    def visit_For(self, node: nodes.For, frame: Any) -> None:
        self._loop_iterables.add(id(node.iter))
        super().visit_For(node, frame)

    def visit(self, node: nodes.Node, *args: Any, **kwargs: Any) -> Any:
        if id(node) not in self._loop_iterables:
            return super().visit(node, *args, **kwargs)
        self.write("environment.budget.iterate(")
        super().visit(node, *args, **kwargs)
        self.write(")")
        return None


def _big(values: Any) -> bool:
    return any(isinstance(v, int) and abs(v) > MAX_RESULT for v in values)


def _too_large(what: str) -> SecurityError:
    return SecurityError(f"{what} would build more than {MAX_RESULT:,} characters or items")


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` refusing a size argument (``center(10**9)``, ``slice(10**9)``)
    or a format string (``'%.999999999d'|format(1)``) that would build a huge result."""
    passed = 1 if jinja2.utils._PassArg.from_obj(func) else 0

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        value, rest = (
            args[passed] if len(args) > passed else None,
            (*args[passed + 1 :], *kwargs.values()),
        )
        if _big(rest):
            raise _too_large(f"|{name}")
        if name == "format" and isinstance(value, str) and _WIDE.search(value):
            raise _too_large("|format")
        return func(*args, **kwargs)

    return guarded


class _Sandbox(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """A plan file is input: validating it must not exhaust memory or CPU, so
    operators, filters and ``str.format`` that could build a huge value in one
    step (``'a' * 10**10``, ``9**999999``, ``'{:>999999999}'.format(1)``) refuse."""

    intercepted_binops = frozenset({"*", "**", "%"})
    code_generator_class = _BudgetedLoops

    def __init__(self, budget: RenderBudget, **options: Any) -> None:
        super().__init__(**options)
        self.budget = budget
        self.filters = {name: _guard_filter(name, f) for name, f in self.filters.items()}

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        self.budget.tick()  # a macro calling itself twice never loops, it recurses
        return super().call(context, obj, *args, **kwargs)

    def call_filter(self, *args: Any, **kwargs: Any) -> Any:
        self.budget.tick()  # |map and |select call this once per item
        return super().call_filter(*args, **kwargs)

    def call_test(self, *args: Any, **kwargs: Any) -> Any:
        self.budget.tick()
        return super().call_test(*args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        ints = isinstance(left, int) and isinstance(right, int)
        if (
            operator == "**"
            and ints
            and abs(left) > 1
            and right * abs(left).bit_length() > 8 * MAX_RESULT
        ):
            raise _too_large(f"{left} ** {right}")
        if operator == "*" and any(
            isinstance(seq, str | list | tuple) and isinstance(n, int) and len(seq) * n > MAX_RESULT
            for seq, n in ((left, right), (right, left))
        ):
            raise _too_large("repeating a sequence")
        if (
            operator == "%"
            and isinstance(left, str)
            and (
                _WIDE.search(left)
                or ("*" in left and _big(right if isinstance(right, tuple) else (right,)))
            )
        ):
            raise _too_large("this % format")
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        if _WIDE.search(value.__self__):
            raise _too_large("this str.format")
        if not _NESTED_SPEC.search(value.__self__):
            return wrapped

        def format_checked(*args: Any, **kwargs: Any) -> str:
            if _big((*args, *kwargs.values())):  # '{0:{1}}'.format(x, 10**9)
                raise _too_large("this str.format")
            return wrapped(*args, **kwargs)

        return format_checked


class Renderer:
    def __init__(
        self,
        context: Mapping[str, Any],
        environ: Mapping[str, str] | None = None,
        budget: RenderBudget | None = None,
    ) -> None:
        self.env = _Sandbox(
            budget or RenderBudget(),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
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
        try:
            return template.render(self.context)
        finally:
            self.env.budget.done()

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
                hint = ""
                if exc.message and exc.message.startswith("'region'"):
                    hint = " (use ${region}: a plan file is rendered once, regions are filled in at run time)"
                errors.append(marks.diag(path, f"template error: {exc.message}{hint}"))
            except SecurityError as exc:
                errors.append(marks.diag(path, f"template error: not allowed: {exc}"))
            except (_MissingEnv, OverBudget) as exc:
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
    """Point at every ``${name}`` that the executor will not know, and at every
    malformed secret reference (``${ssm:}``, ``${ssm:relative}``)."""
    if isinstance(value, str):
        for match in RUNTIME_REF.finditer(value):
            name = match.group(1).strip()
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
            check_runtime_refs(item, marks, (*path, key), errors)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_runtime_refs(item, marks, (*path, index), errors)
