"""The harness's totals at the end of the run's output."""

from __future__ import annotations

import pytest
from harness import TOTALS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TOTALS["cases"]:
        terminalreporter.write_line(
            f"safety invariants: {TOTALS['cases']} cases, {TOTALS['violations']} violations"
        )
