"""Plan identifiers <-> the embedded AWS's identifiers.

A plan names real resources (``arn:...:listener/app/media-register/50dc...``,
hosted zone ``Z0PEOPLECARDS``); moto makes up its own ids when the sandbox
creates them.  :class:`IdMap` replaces one with the other anywhere inside a
value (nested mappings and lists, and inside longer strings such as a rule
ARN that embeds its listener's), in both directions.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any


class IdMap:
    def __init__(self) -> None:
        self._in: dict[str, str] = {}
        self._out: dict[str, str] = {}
        self._lock = threading.Lock()
        self._patterns: tuple[re.Pattern[str] | None, re.Pattern[str] | None] = (None, None)

    def add(self, plan_id: str, sandbox_id: str) -> None:
        if plan_id == sandbox_id:
            return
        with self._lock:
            self._in[plan_id] = sandbox_id
            self._out[sandbox_id] = plan_id
            self._patterns = (_pattern(self._in), _pattern(self._out))

    def copy(self) -> IdMap:
        made = IdMap()
        with self._lock:
            made._in, made._out, made._patterns = dict(self._in), dict(self._out), self._patterns
        return made

    def inward(self, value: Any) -> Any:
        """Plan ids -> sandbox ids (what an action is about to send)."""
        return _swap(value, self._patterns[0], self._in)

    def outward(self, value: Any) -> Any:
        """Sandbox ids -> plan ids (what an action returns, for the journal and the view)."""
        return _swap(value, self._patterns[1], self._out)


def _pattern(table: Mapping[str, str]) -> re.Pattern[str] | None:
    if not table:
        return None
    # Longest first, so an ARN is replaced whole before any id inside it.
    return re.compile("|".join(re.escape(k) for k in sorted(table, key=len, reverse=True)))


def _swap(value: Any, pattern: re.Pattern[str] | None, table: Mapping[str, str]) -> Any:
    if pattern is None:
        return value
    if isinstance(value, str):
        return pattern.sub(lambda m: table[m.group(0)], value)
    if isinstance(value, Mapping):
        return {_swap(k, pattern, table): _swap(v, pattern, table) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_swap(v, pattern, table) for v in value]
    return value
