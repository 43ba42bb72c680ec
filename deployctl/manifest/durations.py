"""Durations as plan files write them: ``500ms``, ``30s``, ``10m``, ``1h30m``."""

from __future__ import annotations

import functools
import re

STABLE = "stable"
MAX_SECONDS = 366 * 86400.0  # no stage, bake or timeout waits longer; also keeps floats finite
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s|d)")
_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_ORDER = ["d", "h", "m", "s", "ms"]


class DurationError(ValueError):
    """``offset`` is the 0-based position in the text where parsing failed."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.offset = offset


def parse_duration(text: str) -> float:
    """Seconds in ``text``; units must appear largest first, each at most once."""
    if not isinstance(text, str) or not text:
        raise DurationError("a duration needs a number and a unit, e.g. '30s', '10m', '1h30m'")
    pos = 0
    total = 0.0
    last_rank = -1
    while pos < len(text):
        match = _PART.match(text, pos)
        if not match:
            raise DurationError(
                f"bad duration {text!r}: expected a number followed by ms, s, m, h or d", pos
            )
        rank = _ORDER.index(match.group(2))
        if rank <= last_rank:
            raise DurationError(
                f"bad duration {text!r}: units must go from largest to smallest", pos
            )
        last_rank = rank
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if total > MAX_SECONDS:
        raise DurationError(f"bad duration {text!r}: longer than a year")
    return total


@functools.lru_cache(maxsize=1024)  # a plan spells the same few durations on every step
def format_duration(seconds: float) -> str:
    """The shortest plan-file spelling of ``seconds`` (``5400`` -> ``1h30m``)."""
    if seconds <= 0:
        return "0s"
    millis = round(seconds * 1000)
    out = ""
    for unit in _ORDER:
        size = round(_UNIT_SECONDS[unit] * 1000)
        count, millis = divmod(millis, size)
        if count:
            out += f"{count}{unit}"
    return out
