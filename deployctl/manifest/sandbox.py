"""The Jinja sandbox that renders plan templates, and its guards.

Imported only when a value holds a template that is more than bare names
(:meth:`deployctl.manifest.render.Renderer.render_str` substitutes those
itself): importing Jinja costs about 50 ms, a third of a ``validate``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any

import jinja2
import jinja2.sandbox
from jinja2 import nodes
from jinja2.compiler import CodeGenerator
from jinja2.exceptions import SecurityError

from deployctl.manifest.render import RenderBudget
from deployctl.manifest.sizes import (
    MAX_RESULT,
    PREDICTED,
    bounded,
    checked,
    percent_size,
    predict_filter,
    predict_method,
    size,
    sized_iter,
    too_large,
    too_large_input,
)


class _Output(list[str]):
    """Where a template's text collects (the output, a macro's body, a
    ``{% set %}`` block): refuses to grow past the cap, so a loop that prints a
    long value over and over stops at the cap, not at the end of the loop."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def append(self, part: str) -> None:
        self.total += len(part) or 1  # a million empty strings are a million items
        if self.total > MAX_RESULT:
            raise too_large("the rendered text")
        super().append(part)

    def extend(self, parts: Iterable[str]) -> None:
        for part in parts:
            self.append(part)


class _Generator(CodeGenerator):
    """Jinja's code generator, with every ``{% for %}`` iterable passed through
    ``environment.budget.iterate`` (the only hook inside a Python-level loop),
    every output buffer an :class:`_Output`, and ``~`` sized as it joins."""

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

    def buffer(self, frame: Any) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.output()")

    def visit_Concat(self, node: nodes.Concat, frame: Any) -> None:
        self.write("environment.join_parts((")
        for part in node.nodes:
            self.visit(part, frame)
            self.write(", ")
        self.write("))")


def _big(values: Iterable[Any]) -> bool:
    return any(isinstance(v, int) and abs(v) > MAX_RESULT for v in values)


# Filters whose size argument builds that many items, whatever the input.
_SIZE_PARAMS = {"batch": "linecount", "slice": "slices"}
# |slice(n) builds n lists even from an empty input: at ~90 bytes a list,
# MAX_RESULT of them would be 9 MB before any check sees a character.
MAX_SLICES = 10_000


@functools.cache
def _filter_signature(func: Callable[..., Any]) -> tuple[int, inspect.Signature]:
    """How many leading arguments Jinja passes itself, and the signature of the
    rest (the same for every sandbox: computed once per filter)."""
    passed = 1 if jinja2.utils._PassArg.from_obj(func) else 0
    signature = inspect.signature(func)
    params = list(signature.parameters.values())
    if passed and params and params[0].name in ("eval_ctx", "environment", "env", "context"):
        # Async-ready filters take the eval context without naming it: bind what follows.
        signature = signature.replace(parameters=params[1:])
    return passed, signature


def _guard_filter(
    name: str, func: Callable[..., Any], measure: Callable[[Any], int]
) -> Callable[..., Any]:
    """``func`` refusing inputs past the cap (sized by ``measure``), results it
    can tell in advance would pass it (``center(10**9)``, ``replace`` or
    ``join`` that multiply), and results past it; ``|map`` is sized as it yields."""
    passed, signature = _filter_signature(func)

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        what = f"|{name}"
        for value in (*args[passed:], *kwargs.values()):
            if measure(value) > MAX_RESULT:
                raise too_large_input(what)
        if name in PREDICTED or name in _SIZE_PARAMS or name in ("join", "sum"):
            bound = signature.bind(*args[passed:], **kwargs).arguments
            slices = bound.get("slices") if name == "slice" else None
            if isinstance(slices, int) and slices > MAX_SLICES:
                raise SecurityError(f"|slice makes at most {MAX_SLICES:,} slices")
            if (
                _big([bound.get(_SIZE_PARAMS.get(name, ""))])
                or predict_filter(name, bound) > MAX_RESULT
            ):
                raise too_large(what)
            if name == "join":
                sep = bound.get("d", "")  # Jinja joins with str(d), whatever d is
                items = bounded(
                    bound["value"], what, len(sep if isinstance(sep, str) else str(sep))
                )
                args = (*args[:passed], items, *args[passed + 1 :])
            if name == "sum" and not isinstance(bound.get("start", 0), int | float):
                raise SecurityError("|sum adds numbers (a list or text start is not allowed)")
        result = func(*args, **kwargs)
        if name == "map":
            return sized_iter(result, what)
        return checked(result, what)

    return guarded


class Sandbox(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """A plan file is input: validating it must not exhaust memory or CPU.

    Every value a template builds stays under :data:`MAX_RESULT` characters or
    items, checked while it is built: operators, method calls, filters, ``~``
    and the text a template writes refuse a result they can tell in advance
    would pass the cap (``'a' * 10**10``, ``'x'.ljust(10**9)``, a ``join`` of a
    thousand long strings) and check the rest as it comes, so no template
    allocates more than a few times the cap.  Loops and calls spend the
    file's :class:`RenderBudget`.
    """

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = _Generator

    def __init__(self, budget: RenderBudget, **options: Any) -> None:
        super().__init__(finalize=self._printed, **options)
        self.budget = budget
        self.filters = {name: _guard_filter(name, f, self.size) for name, f in self.filters.items()}
        self._sizes: dict[int, tuple[Any, int]] = {}  # big containers, measured once per render
        self.reads: dict[str, str] = {}  # where env() records: the current renderer's

    def current_reads(self) -> dict[str, str]:
        return self.reads

    def output(self) -> _Output:
        return _Output()

    def concat(self, parts: Iterable[str]) -> str:
        out = _Output()
        out.extend(parts)
        return "".join(out)

    def size(self, value: Any) -> int:
        """:func:`size`, remembered for long containers: a loop that uses one
        on every pass measures it once (values cannot change in this sandbox)."""
        if not isinstance(value, list | tuple | dict) or len(value) < 64:
            return size(value)
        known = self._sizes.get(id(value))
        if known is None:
            known = self._sizes[id(value)] = (value, size(value))
        return known[1]

    def forget_sizes(self) -> None:
        self._sizes.clear()

    def _inputs(self, what: str, *values: Any) -> None:
        for value in values:
            if self.size(value) > MAX_RESULT:
                raise too_large_input(what)

    def _printed(self, value: Any) -> Any:
        self._inputs("printing", value)  # a list of long strings is short until printed
        return value

    def join_parts(self, parts: Iterable[Any]) -> str:
        """``a ~ b ~ c``: each part's text, refused once they pass the cap together."""
        out = _Output()
        for part in parts:
            self._inputs("~", part)
            out.append(str(part))
        return "".join(out)

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        self.budget.tick()  # a macro calling itself twice never loops, it recurses
        method = getattr(obj, "__wrapped__", obj)  # str.format comes wrapped by the sandbox
        owner = getattr(method, "__self__", None)
        name = getattr(method, "__name__", "")
        what = f"{name}()"
        self._inputs(what, owner, *args, *kwargs.values())
        if owner is not None and _big((*args, *kwargs.values())):
            raise too_large(what)
        if isinstance(owner, str | bytes) and name == "join" and args:
            args = (bounded(args[0], what, len(owner)), *args[1:])
        if predict_method(owner, name, args, kwargs) > MAX_RESULT:
            raise too_large(what)
        return checked(super().call(context, obj, *args, **kwargs), what)

    def call_filter(self, *args: Any, **kwargs: Any) -> Any:
        self.budget.tick()  # |map and |select call this once per item
        return super().call_filter(*args, **kwargs)

    def call_test(self, *args: Any, **kwargs: Any) -> Any:
        self.budget.tick()
        return super().call_test(*args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        what = f"{operator!r}"
        self._inputs(what, left, right)
        predicted = 0
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | bytes | list | tuple) and isinstance(n, int):
                    predicted = max(predicted, self.size(seq) * n)
        elif operator == "**" and isinstance(left, int) and isinstance(right, int):
            predicted = int(right * abs(left).bit_length() * 0.30103) if abs(left) > 1 else 0
        elif operator == "%" and isinstance(left, str | bytes):
            predicted = percent_size(left, right)
        if predicted > MAX_RESULT:
            raise too_large(f"{type(left).__name__} {operator} {type(right).__name__}")
        return checked(super().call_binop(context, operator, left, right), what)
