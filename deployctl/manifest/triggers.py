"""Rollback triggers: ``"ErrorRate>5%,Latency>1000ms"`` (the seed's grammar).

``NAME OP VALUE[UNIT]`` with OP in ``> >= < <=`` and UNIT in ``% ms s`` or none;
items separated by commas.  Values are normalised: a percentage becomes a
fraction (5% -> 0.05), seconds become milliseconds.
"""

from __future__ import annotations

import re

from deployctl.core.frozen import Frozen, frozen

_ITEM = re.compile(
    r"\s*(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)\s*(?P<op>>=|<=|>|<)\s*"
    r"(?P<value>-?\d+(?:\.\d+)?)\s*(?P<unit>%|ms|s)?\s*$"
)
_NAME = re.compile(r"\s*[A-Za-z_][A-Za-z0-9_.-]*")
_OP = re.compile(r"\s*(>=|<=|>|<)")
_VALUE = re.compile(r"\s*-?\d+(?:\.\d+)?")


@frozen
class Trigger(Frozen):
    """One rollback trigger: ``NAME OP VALUE[UNIT]``, its value normalised."""

    metric: str
    op: str
    value: float  # normalised: fraction for %, milliseconds for ms/s, raw otherwise
    unit: str | None
    text: str  # as written, for messages and plan output

    def breached(self, observed: float) -> bool:
        """Whether ``observed`` (in the normalised unit) trips this trigger."""
        if self.op == ">":
            return observed > self.value
        if self.op == ">=":
            return observed >= self.value
        if self.op == "<":
            return observed < self.value
        return observed <= self.value


class TriggerError(ValueError):
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


def _explain(item: str) -> tuple[str, int]:
    """Why ``item`` does not parse, and the 0-based column of the mistake."""
    pos = 0
    name = _NAME.match(item, pos)
    if not name:
        return "expected a metric name", len(item) - len(item.lstrip())
    pos = name.end()
    op = _OP.match(item, pos)
    if not op:
        return "expected one of > >= < <= after the metric name", pos
    pos = op.end()
    value = _VALUE.match(item, pos)
    if not value:
        return "expected a number", pos
    pos = value.end()
    rest = item[pos:].strip()
    return f"unknown unit {rest!r} (use %, ms, s or none)", pos + (
        len(item[pos:]) - len(item[pos:].lstrip())
    )


def parse_one(item: str, base: int = 0) -> Trigger:
    match = _ITEM.match(item)
    if not match:
        message, col = _explain(item)
        raise TriggerError(f"bad rollback trigger {item.strip()!r}: {message}", base + col)
    value = float(match.group("value"))
    unit = match.group("unit")
    if unit == "%":
        value /= 100.0
    elif unit == "s":
        value *= 1000.0
    return Trigger(match.group("name"), match.group("op"), value, unit, item.strip())


def parse_triggers(text: str) -> tuple[Trigger, ...]:
    """Every trigger in ``text``; raises :class:`TriggerError` at the first mistake."""
    out: list[Trigger] = []
    base = 0
    for item in text.split(","):
        if not item.strip():
            raise TriggerError("empty rollback trigger (stray comma?)", base)
        out.append(parse_one(item, base))
        base += len(item) + 1
    return tuple(out)
