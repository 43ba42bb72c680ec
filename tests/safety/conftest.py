"""The harness's count of cases and violations, at the end of the run's
output: each test records its own (``record_property("safety", ...)``),
which reaches this process from every xdist worker with the test's report."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

CASES: Counter[str] = Counter()
VIOLATIONS: Counter[str] = Counter()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call":
        return
    for key, value in report.user_properties:
        if key == "safety":
            CASES[value["example"]] += value["cases"]
            VIOLATIONS[value["example"]] += value["violations"]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not CASES:
        return
    each = ", ".join(f"{name} {CASES[name]}" for name in CASES)
    terminalreporter.write_line(
        f"safety invariants: {sum(CASES.values())} cases ({each}), "
        f"{sum(VIOLATIONS.values())} violations"
    )
