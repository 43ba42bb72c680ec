"""Diagnostics: a message tied to a place in a plan file.

A *path* is the document path inside the YAML (``("strategy", "stages", 1,
"traffic")``); :class:`Marks` turns it into ``line:col``.  Every user-facing
problem is one of these, rendered as a single line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

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


@dataclass(frozen=True, order=True)
class Diagnostic:
    file: str | None = None
    line: int | None = None  # 1-based
    col: int | None = None  # 1-based
    message: str = ""
    path: Path = field(default=(), compare=False)
    severity: str = field(default="error", compare=False)

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
        return Diagnostic(self.file, line, col, message, tuple(path))
