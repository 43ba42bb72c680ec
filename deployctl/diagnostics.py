"""Diagnostics: a message tied to a place in a plan file.

A *path* is the document path inside the YAML (``("strategy", "stages", 1,
"traffic")``); :class:`Marks` turns it into ``line:col``.  Every user-facing
problem is one of these, rendered as a single line.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from deployctl.core.frozen import Ordered, frozen

PathItem = str | int
Path = tuple[PathItem, ...]


def format_path(path: Iterable[PathItem]) -> str:
    """``("strategy", "stages", 1, "traffic")`` -> ``strategy.stages[1].traffic``."""
    out = ""
    for item in path:
        if isinstance(item, int):
            out += f"[{item}]"
        else:
            out += f".{item}" if out else str(item)
    return out


@frozen
class Diagnostic(Ordered):
    """One problem: where it is (``file:line:col``, the document path), what
    it says, and the source line it is on; diagnostics sort by place, then message."""

    file: str | None = None
    line: int | None = None  # 1-based
    col: int | None = None  # 1-based
    message: str = ""
    path: Path = field(default=(), compare=False)
    severity: str = field(default="error", compare=False)
    source: str | None = field(default=None, compare=False, repr=False)  # the line it is on

    def snippet(self) -> list[str]:
        """The source line with a caret under the column, as rustc prints it
        (empty when the line is unknown)."""
        if self.source is None or self.line is None:
            return []
        text = self.source.rstrip("\r")
        col = max(self.col or 1, 1)
        start = max(0, col - 80) if len(text) > 120 else 0  # long lines: a window around it
        shown = text[start : start + 120].expandtabs(1)
        number = str(self.line)
        pad = " " * len(number)
        return [f"{pad} |", f"{number} | {shown}", f"{pad} | {' ' * (col - 1 - start)}^"]

    def render(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}:{self.col or 1}"
            where += ": "
        what = f"{format_path(self.path)}: " if self.path else ""
        return f"{where}{self.severity}: {what}{self.message}"


@dataclass
class Marks:
    """Where each value (and each mapping key) of one YAML document starts.

    Positions are 1-based ``(line, col)``.  ``values`` is keyed by document
    path; ``keys`` by the path of the value the key introduces, so an unknown
    field can be pointed at by its key.  ``verbatim`` holds the paths of
    one-line scalars whose value is exactly the text written (no escapes,
    folding or Jinja), so a column inside the string can be found; ``quoted``
    says which of those start with a quote.
    """

    file: str
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)
    quoted: set[Path] = field(default_factory=set)
    verbatim: set[Path] = field(default_factory=set)
    lines: Sequence[str] = field(default=(), repr=False)  # the file's text, for snippets

    def locate(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """The nearest known position for ``path`` (walking up to the root)."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while True:
            if probe in table:
                return table[probe]
            if probe in self.values:
                return self.values[probe]
            if not probe:
                return (1, 1)
            probe = probe[:-1]

    def diag(self, path: Path, message: str, *, key: bool = False, offset: int = 0) -> Diagnostic:
        """A diagnostic at ``path``; ``offset`` moves right inside a scalar string."""
        line, col = self.locate(path, key=key)
        # Elsewhere an offset into the value could land on the wrong character:
        # point at the start of the value instead.
        if offset and tuple(path) in self.verbatim:
            col += offset + (1 if tuple(path) in self.quoted else 0)
        source = self.lines[line - 1] if 0 < line <= len(self.lines) else None
        return Diagnostic(self.file, line, col, message, tuple(path), source=source)


def snippets_wanted(stream: TextIO) -> bool:
    """Snippets under errors on a terminal; ``DEPLOYCTL_SNIPPETS=1`` or ``0`` decides
    elsewhere (logs and CI annotations read one line per error)."""
    chosen = os.environ.get("DEPLOYCTL_SNIPPETS")
    if chosen in ("0", "1"):
        return chosen == "1"
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def report(diagnostics: Iterable[Diagnostic], stream: TextIO) -> None:
    """Each diagnostic as its one line, with its snippet when wanted."""
    wanted = snippets_wanted(stream)
    for diagnostic in diagnostics:
        print(f"deployctl: {diagnostic.render()}", file=stream)
        for line in diagnostic.snippet() if wanted else ():
            print(line, file=stream)
