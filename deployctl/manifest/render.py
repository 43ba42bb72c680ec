"""Render ``{{ ... }}`` in string values, one value at a time, in a sandbox.

Only strings are rendered, never the raw file, so a rendered value cannot add
YAML structure.  The sandbox is immutable and undefined names are errors;
``env("NAME")`` is the only door to the process environment.  ``${...}``
runtime references (``${new_version}``, ``${ssm:/path}``...) pass through
untouched for the executor.  Loops and calls spend a per-file CPU budget
(:class:`RenderBudget`), so a template that never ends is an error, not a hang.
"""

from __future__ import annotations

import difflib
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from deployctl.diagnostics import Diagnostic, Marks, Path
from deployctl.manifest.sizes import MAX_RESULT as MAX_RESULT  # noqa: PLC0414 - re-exported

if TYPE_CHECKING:
    import jinja2

    from deployctl.manifest.sandbox import Sandbox


class _MissingEnv(Exception):
    pass


def _env_lookup(
    environ: Mapping[str, str], reads: Callable[[], dict[str, str]]
) -> Callable[..., str]:
    def env(name: str, default: str | None = None) -> str:
        if name in environ:
            reads()[name] = environ[name]  # the loader decides which of these are secrets
            return environ[name]
        if default is not None:
            return default
        raise _MissingEnv(f"environment variable {name!r} is not set")

    return env


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
        # The renderers of one file share a sandbox per environ, and its compiled
        # templates: 1,000 documents writing "{{ stage }}" compile it once.
        self.sandboxes: dict[int, tuple[Mapping[str, str], Sandbox, dict[str, Any]]] = {}

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


# ``{{ name }}`` or ``{{ vars.name }}``: split gives text, "vars." or "", name, text, ...
_SIMPLE = re.compile(r"\{\{\s*(vars\.)?([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class Renderer:
    def __init__(
        self,
        context: Mapping[str, Any],
        environ: Mapping[str, str] | None = None,
        budget: RenderBudget | None = None,
    ) -> None:
        self._budget = budget or RenderBudget()
        self._environ = os.environ if environ is None else environ
        self._env: Sandbox | None = None
        self.env_reads: dict[str, str] = {}  # name -> value of every env() that found one
        self.context = dict(context)
        self._cache: dict[str, jinja2.Template] = {}  # replaced by the shared one below
        self.templates: dict[Path, str] = {}  # path -> template, of each value that rendered

    @property
    def env(self) -> Sandbox:
        """The sandbox, built at the first template that needs Jinja: most values
        are plain text or bare names, and a 1,000-document file would otherwise
        build thousands of them (and a plan without such a template never
        imports Jinja)."""
        if self._env is None:
            import jinja2  # noqa: PLC0415 - see the docstring

            from deployctl.manifest.sandbox import Sandbox  # noqa: PLC0415

            shared = self._budget.sandboxes.get(id(self._environ))
            if shared is None or shared[0] is not self._environ:
                sandbox = Sandbox(
                    self._budget,
                    undefined=jinja2.StrictUndefined,
                    autoescape=False,
                    keep_trailing_newline=True,
                )
                sandbox.globals = {"env": _env_lookup(self._environ, sandbox.current_reads)}
                shared = self._budget.sandboxes[id(self._environ)] = (self._environ, sandbox, {})
            self._env, self._cache = shared[1], shared[2]
        self._env.reads = self.env_reads  # env() records into the renderer rendering now
        return self._env

    def names(self, text: str) -> set[str]:
        """The names a template reads (empty for plain text or a syntax error:
        rendering it reports that)."""
        if "{{" not in text and "{%" not in text:
            return set()
        from jinja2 import TemplateSyntaxError, meta  # noqa: PLC0415 - a template: Jinja parses it

        try:
            return meta.find_undeclared_variables(self.env.parse(text))
        except TemplateSyntaxError:
            return set()

    def render_str(self, text: str) -> str:
        if "{{" not in text and "{%" not in text:
            return text
        quick = self._simple(text)
        if quick is not None:
            return quick
        sandbox = self.env  # also points env() at this renderer's reads
        template = self._cache.get(text)
        if template is None:
            template = self._cache[text] = sandbox.from_string(text)
        try:
            return template.render(self.context)
        finally:
            sandbox.budget.done()
            sandbox.forget_sizes()

    def _simple(self, text: str) -> str | None:
        """``text`` rendered without Jinja when its only templates are bare names
        (``svc-{{ stage }}``, ``{{ vars.version }}``) of short scalar values, as
        Jinja would print them; ``None`` for anything else (Jinja renders it, and
        reports what is wrong).  Most templates in real plans are of this shape,
        and compiling one costs a quarter millisecond."""
        parts = _SIMPLE.split(text)
        if any("{{" in p or "{%" in p or "{#" in p for p in parts[::3]):
            return None
        out = [parts[0]]
        for i in range(1, len(parts), 3):
            scope: Any = self.context.get("vars") if parts[i] else self.context
            if not isinstance(scope, Mapping) or parts[i + 1] not in scope:
                return None
            value = scope[parts[i + 1]]
            if isinstance(value, bool | int | float) or value is None:
                value = str(value)
            if not isinstance(value, str) or len(value) > 10_000:
                return None
            out += [value, parts[i + 2]]
        return "".join(out)

    def _did_you_mean(self, quoted: str) -> str:
        name = quoted.strip("'\"")
        known = [k for k in self.context if isinstance(k, str)] + ["env"]
        hint = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        return f" (did you mean {hint[0]!r}?)" if hint else ""

    def _problem(self, exc: Exception) -> str:
        """What a template error says: only a template raises, so Jinja is
        loaded by now (and :meth:`render`, which calls this, need not load it)."""
        import jinja2  # noqa: PLC0415

        if isinstance(exc, jinja2.TemplateSyntaxError):
            return str(exc.message)
        if isinstance(exc, jinja2.UndefinedError):
            hint = ""
            if exc.message and exc.message.startswith("'region'"):
                hint = " (use ${region}: a plan file is rendered once, regions are filled in at run time)"
            elif exc.message and exc.message.endswith(" is undefined"):
                hint = self._did_you_mean(exc.message.removesuffix(" is undefined"))
            return f"{exc.message}{hint}"
        if isinstance(exc, jinja2.exceptions.SecurityError):
            return f"not allowed: {exc}"
        if isinstance(exc, _MissingEnv | OverBudget):
            return str(exc)
        return f"{type(exc).__name__}: {exc}"

    def render(self, value: Any, marks: Marks, path: Path, errors: list[Diagnostic]) -> Any:
        """``value`` with every string rendered; problems go to ``errors``."""
        if isinstance(value, str):
            try:
                rendered = self.render_str(value)
            except Exception as exc:
                errors.append(marks.diag(path, f"template error: {self._problem(exc)}"))
                return value
            if rendered != value:  # columns inside it no longer match the file
                marks.verbatim.discard(path)
                self.templates[path] = value
            return rendered
        if isinstance(value, dict):
            return {k: self.render(v, marks, (*path, k), errors) for k, v in value.items()}
        if isinstance(value, list):
            return [self.render(v, marks, (*path, i), errors) for i, v in enumerate(value)]
        return value
