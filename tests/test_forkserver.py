"""The fork server's children, as the harness sees them: exit code, output,
and the CPU time each used (what docs/performance.md measures cuts with)."""

from __future__ import annotations

from deployctl.testing.cli import CliProcess


def test_a_child_reports_its_exit_code_output_and_cpu_time() -> None:
    child = CliProcess(("validate", "plans/fraud-or-not.yaml"))
    out, err = child.communicate(60)
    assert (child.returncode, err) == (0, "")
    assert out.startswith("plans/fraud-or-not.yaml: ok")
    # Loading and compiling a plan after the fork is real work, but far
    # less than a cold interpreter's start (most of a second).
    assert child.child.cpu is not None and 0 < child.child.cpu < 5


def test_a_child_that_fails_reports_its_exit_code() -> None:
    child = CliProcess(("validate", "plans/no-such-plan.yaml"))
    _, err = child.communicate(60)
    assert child.returncode == 1
    assert "no-such-plan.yaml" in err
