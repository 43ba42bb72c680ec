"""Runtime references: a string param holding ``${...}`` is resolved by the
executor from earlier steps' outputs (or a secret source) right before the
step runs.  See docs/architecture.md."""

from __future__ import annotations

from typing import Any

REF_OPEN = "${"


def is_unresolved(value: Any) -> bool:
    """Whether ``value`` (any param, stringified) still holds a ``${...}`` reference."""
    return REF_OPEN in str(value)
