"""One exception root; each subclass carries the data its handler needs.

The CLI maps these to exit codes in exactly one place (``cli.main``).
"""

from __future__ import annotations

from collections.abc import Sequence

from deployctl.diagnostics import Diagnostic

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_ROLLED_BACK = 3
EXIT_LOCKED = 4
EXIT_STALE = 5
EXIT_WAITING = 6
EXIT_ROLLBACK_INCOMPLETE = 7
EXIT_INTERRUPTED = 130


class DeployctlError(Exception):
    """Root of every error deployctl raises on purpose."""

    exit_code = EXIT_ERROR


class UserError(DeployctlError):
    """Bad input: shown as one line per diagnostic, never a traceback."""

    def __init__(self, diagnostics: Sequence[Diagnostic] | str) -> None:
        if isinstance(diagnostics, str):
            diagnostics = [Diagnostic(message=diagnostics)]
        self.diagnostics = tuple(diagnostics)
        super().__init__("\n".join(d.render() for d in self.diagnostics))


class CycleError(UserError):
    """The step graph has a cycle; the cycle is spelled out once."""

    def __init__(self, cycle: Sequence[str], file: str | None = None) -> None:
        self.cycle = tuple(cycle)
        loop = " -> ".join([*self.cycle, self.cycle[0]])
        super().__init__([Diagnostic(file=file, message=f"dependency cycle: {loop}")])
