"""Runtime references: a string param holding ``${...}`` is resolved by the
executor from earlier steps' outputs (or a secret source) right before the
step runs.  See docs/architecture.md."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

REF_OPEN = "${"
# One ``${...}`` reference; group 1 is the text inside (``region``,
# ``steps.pub.new_version``, ``ssm:/db/password``).
REF = re.compile(r"\$\{([^}]*)\}")


def is_unresolved(value: Any) -> bool:
    """Whether ``value`` (any param, stringified) still holds a ``${...}`` reference."""
    return REF_OPEN in str(value)


def strings_in(value: Any) -> Iterator[str]:
    """Every string in ``value`` (a step's params: mappings, lists, scalars)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings_in(item)
