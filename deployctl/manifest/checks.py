"""The small readers the builder uses; each records a diagnostic instead of raising."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from deployctl.diagnostics import Diagnostic, Marks, Path
from deployctl.manifest.durations import STABLE, DurationError, parse_duration
from deployctl.manifest.triggers import Trigger, TriggerError, parse_one


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'X'?)`` for the nearest of ``known``, or nothing."""
    near = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""


@dataclass
class Checker:
    marks: Marks
    errors: list[Diagnostic] = field(default_factory=list)

    def error(self, path: Path, message: str, *, offset: int = 0) -> None:
        self.errors.append(self.marks.diag(path, message, offset=offset))

    def duration(self, value: str | None, path: Path, *, stable_ok: bool = False) -> float | None:
        """Seconds, ``None`` for ``stable`` (where allowed) or on error."""
        if value is None:
            return None
        if value.strip() == STABLE:
            if not stable_ok:
                self.error(path, "'stable' is only allowed as the duration of the last stage")
            return None
        # The schema has made sure a duration is a string by now.
        try:
            return parse_duration(value.strip())
        except DurationError as exc:
            self.error(path, str(exc), offset=exc.offset)
            return None

    def triggers(self, value: Any, path: Path, known: set[str]) -> tuple[Trigger, ...]:
        """Parse the seed's trigger string (or a list of items), pointing at mistakes.

        ``known`` holds the metric names the plan can fetch; any other name is an
        error at the column where it is written.
        """
        if value is None:
            return ()
        items: list[tuple[str, Path, int]] = []
        if isinstance(value, str):
            base = 0
            for item in value.split(","):
                items.append((item, path, base))
                base += len(item) + 1
        else:
            items = [(str(item), (*path, i), 0) for i, item in enumerate(value)]
        out: list[Trigger] = []
        for item, where, base in items:
            if not item.strip():
                self.error(where, "empty rollback trigger (stray comma?)", offset=base)
                continue
            try:
                trigger = parse_one(item, base)
            except TriggerError as exc:
                self.error(where, str(exc), offset=exc.offset)
                continue
            if trigger.metric not in known:
                names = ", ".join(sorted(known)) or "none: add a metrics: block"
                offset = base + len(item) - len(item.lstrip())
                self.error(
                    where,
                    f"unknown metric {trigger.metric!r} in trigger"
                    f"{did_you_mean(trigger.metric, known)} (known: {names})",
                    offset=offset,
                )
            out.append(trigger)
        return tuple(out)
