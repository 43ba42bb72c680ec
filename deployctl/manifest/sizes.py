"""How large a value a template is about to build: the arithmetic behind the
render size cap that :mod:`deployctl.manifest.render` enforces.

A plan file is input, so no value its templates build may pass
:data:`MAX_RESULT` characters or items.  Sizes are deep: a list counts its
items and what they hold, so a list of a thousand references to one long
string is as large as its printed text would be, even though it takes little
memory until something prints it.  The ``predict_*`` functions answer from
the inputs alone, *before* the work is done, for every operation whose result
can outgrow its inputs many times (a width, a repeat count, a replacement or
a separator used once per item); everything else grows at most a few times
and is checked after the fact (:func:`checked`), so a refused value never
costs more than a few megabytes.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2.exceptions import SecurityError

MAX_RESULT = 100_000  # characters or items one template value may hold
_DIGITS_PER_BIT = 0.30103  # log10(2): an int of n bits prints as about n * this digits
_CONTAINERS = (list, tuple, set, frozenset)
# One % conversion: %(name)-*.*d; the width and precision may come from the arguments.
_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[a-zA-Z%]")
_NUMBER = re.compile(r"\d+")


def too_large(what: str) -> SecurityError:
    from jinja2.exceptions import SecurityError  # noqa: PLC0415 - only the sandbox calls this

    return SecurityError(f"{what} would build more than {MAX_RESULT:,} characters or items")


def too_large_input(what: str) -> SecurityError:
    from jinja2.exceptions import SecurityError  # noqa: PLC0415 - only the sandbox calls this

    return SecurityError(f"{what}: a value over {MAX_RESULT:,} characters or items")


def size(value: Any, limit: int = MAX_RESULT) -> int:
    """About how many characters ``value`` prints as (items count one each).

    Stops counting once past ``limit``, so it costs at most ``limit`` steps
    whatever ``value`` is.
    """
    total = 0
    todo = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += int(item.bit_length() * _DIGITS_PER_BIT) + 1
        elif isinstance(item, _CONTAINERS):
            total += 2 + len(item)
            if total <= limit:
                todo.extend(item)
        elif isinstance(item, Mapping):
            total += 2 + len(item)
            if total <= limit:
                todo.extend(item.keys())
                todo.extend(item.values())
        else:  # a float, a macro, the loop object: a few characters
            total += 1
        if total > limit:
            return total
    return total


def checked(value: Any, what: str) -> Any:
    """``value``, or a refusal if it is past the cap (for results that can
    outgrow their inputs only a few times, so checking after is cheap)."""
    if size(value) > MAX_RESULT:
        raise too_large(what)
    return value


def bounded(items: Iterable[Any], what: str, each: int = 0) -> list[Any]:
    """``items`` as a list, refused as soon as their sizes (plus ``each`` per
    item, e.g. a separator) pass the cap: a generator that makes a new long
    string per item is stopped before it makes many."""
    out: list[Any] = []
    total = 0
    for item in items:
        total += size(item) + each
        if total > MAX_RESULT:
            raise too_large(what)
        out.append(item)
    return out


def sized_iter(items: Iterable[Any], what: str) -> Iterator[Any]:
    """``items`` lazily, refused once what they yielded together passes the cap."""
    total = 0
    for item in items:
        total += size(item)
        if total > MAX_RESULT:
            raise too_large(what)
        yield item


def _arg(args: tuple[Any, ...], kwargs: Mapping[str, Any], at: int, name: str, default: Any) -> Any:
    if len(args) > at:
        return args[at]
    return kwargs.get(name, default)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _count(text: str | bytes, part: Any) -> int:
    if isinstance(text, str) and isinstance(part, str):
        return text.count(part) if part else len(text) + 1
    if isinstance(text, bytes) and isinstance(part, bytes):
        return text.count(part) if part else len(text) + 1
    return 0


def _text(value: Any) -> str:
    """``value`` as a filter will print it (inputs are within the cap, so this is cheap)."""
    return value if isinstance(value, str) else str(value)


def replace_size(text: Any, old: Any, new: Any, count: Any = None) -> int:
    """Characters ``text.replace(old, new, count)`` would hold."""
    if not isinstance(text, str | bytes):
        return size(text)
    hits = _count(text, old)
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    grow = (
        len(new) - len(old) if isinstance(new, str | bytes) and isinstance(old, str | bytes) else 0
    )
    return len(text) + hits * max(grow, 0)


def percent_size(fmt: Any, values: Any) -> int:
    """An upper bound for ``fmt % values`` (every width and precision counted)."""
    if not isinstance(fmt, str | bytes):
        return 0
    text = fmt if isinstance(fmt, str) else fmt.decode("latin-1")
    pool = values if isinstance(values, tuple) else (values,)
    if isinstance(values, Mapping):
        pool = tuple(values.values())
    widest = max((size(v) for v in pool), default=0)
    star = max((abs(_int(v)) for v in pool), default=0)
    total = len(text)
    for match in _PERCENT.finditer(text):
        total += widest
        for number in match.groups():
            total += star if number == "*" else int(number or 0)
        if total > MAX_RESULT:
            break
    return total


def format_size(fmt: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    """An upper bound for ``fmt.format(*args, **kwargs)``."""
    if not isinstance(fmt, str):
        return 0
    pool = (*args, *kwargs.values())
    widest = max((size(v) for v in pool), default=0)
    star = max((abs(_int(v)) for v in pool), default=0)
    total = 0
    auto = 0
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError:
        return len(fmt)  # str.format will refuse it itself
    for literal, field, spec, _ in fields:
        total += len(literal)
        if field is None:
            continue
        value_size = widest
        if field == "":
            value_size = size(args[auto]) if auto < len(args) else 0
            auto += 1
        elif field.isdigit():
            value_size = size(args[int(field)]) if int(field) < len(args) else 0
        elif field.isidentifier():
            value_size = size(kwargs.get(field, ""))
        total += value_size
        widths = spec or ""
        total += sum(int(n) for n in _NUMBER.findall(widths)) + widths.count("{") * star
        if total > MAX_RESULT:
            break
    return total


def predict_method(owner: Any, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    """An upper bound for the size of ``owner.name(*args, **kwargs)`` for the
    methods whose result can be far larger than their inputs; 0 for others."""
    if isinstance(owner, str | bytes):
        if name in ("center", "ljust", "rjust", "zfill"):
            return max(len(owner), _int(_arg(args, kwargs, 0, "width", 0)))
        if name == "expandtabs":
            tab = _int(_arg(args, kwargs, 0, "tabsize", 8))
            return len(owner) + _count(owner, "\t" if isinstance(owner, str) else b"\t") * tab
        if name == "replace":
            count = _arg(args, kwargs, 2, "count", -1)
            return replace_size(
                owner, _arg(args, kwargs, 0, "old", ""), _arg(args, kwargs, 1, "new", ""), count
            )
        if name == "translate":
            table = _arg(args, kwargs, 0, "table", None)
            values = table.values() if isinstance(table, Mapping) else ()
            longest = max((len(v) for v in values if isinstance(v, str | bytes)), default=1)
            return len(owner) * max(longest, 1)
        if name == "format" and isinstance(owner, str):
            return format_size(owner, args, kwargs)
        if (
            name == "format_map"
            and isinstance(owner, str)
            and args
            and isinstance(args[0], Mapping)
        ):
            return format_size(owner, (), args[0])
    if isinstance(owner, int) and name == "to_bytes":
        return _int(_arg(args, kwargs, 0, "length", 1))
    return 0


_LISTING = frozenset({"list", "sort", "unique", "batch", "slice", "groupby"})
# The filters predict_filter knows; the others grow their input a few times at most.
PREDICTED = _LISTING | {
    "center",
    "replace",
    "indent",
    "wordwrap",
    "urlize",
    "tojson",
    "format",
    "truncate",
}


def predict_filter(name: str, arguments: Mapping[str, Any]) -> int:
    """An upper bound for the size of filter ``name``'s result (its bound
    arguments by parameter name) where it can be far larger than its input."""
    get = arguments.get
    value = get("value")
    if name in _LISTING and isinstance(value, str):
        return 2 + 2 * len(value)  # every character becomes an item
    if name == "center":
        return max(size(get("value")), _int(get("width", 80)))
    if name == "replace":  # Jinja turns each argument into text first
        text, old, new = (_text(get(k, "")) for k in ("s", "old", "new"))
        return replace_size(text, old, new, get("count"))
    if name == "indent":
        text, width = get("s", ""), get("width", 4)
        pad = len(width) if isinstance(width, str) else _int(width)
        lines = text.count("\n") + 1 if isinstance(text, str) else 1
        return size(text) + lines * pad
    if name == "wordwrap":
        text, width = get("s", ""), max(_int(get("width", 79)), 1)
        wrap = get("wrapstring") or "\n"
        lines = len(text) // width + text.count("\n") + 1 if isinstance(text, str) else 1
        return size(text) + lines * size(wrap)
    if name == "urlize":
        text = get("value", "")
        extra = size(get("target") or "") + size(get("rel") or "") + 60
        links = sum(text.count(c) for c in ".@:") + 1 if isinstance(text, str) else 1
        return 3 * size(text) + links * extra
    if name == "tojson":
        return size(get("value")) * (6 + _int(get("indent") or 0))
    if name == "format":
        return percent_size(get("value"), get("kwargs") or tuple(get("args") or ()))
    if name == "truncate":
        return _int(get("length", 255)) + size(get("end", "..."))
    return 0
