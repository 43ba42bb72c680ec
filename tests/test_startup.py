"""Commands that never reach AWS never pay for boto3: a cold ``python -m
deployctl`` process, its imports read from ``-X importtime``.  And test
support stays out of production: nothing outside deployctl/testing imports
it or reads a test switch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "deployctl"
FRAUD = "plans/fraud-or-not.yaml"


def imported(*argv: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "deployctl", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert lines, done.stderr
    return {line.rsplit("|", 1)[-1].strip() for line in lines}


@pytest.mark.parametrize(
    "argv",
    [("--version",), ("validate", FRAUD), ("graph", FRAUD), ("schema",)],
    ids=["version", "validate", "graph", "schema"],
)
def test_commands_that_never_reach_aws_never_import_boto3(argv: tuple[str, ...]) -> None:
    modules = imported(*argv)
    heavy = sorted(m for m in modules if m.split(".")[0] in ("boto3", "botocore", "moto"))
    assert heavy == []
    assert not any(m.startswith(("deployctl.testing", "deployctl.actions")) for m in modules)


def test_only_version_looks_up_the_installed_version() -> None:
    """importlib.metadata costs ~80 ms to import: validate never needs it."""
    assert "importlib.metadata" not in imported("validate", FRAUD)
    assert "importlib.metadata" in imported("--version")


def test_version_imports_no_command_at_all() -> None:
    modules = imported("--version")
    assert "deployctl.cli" in modules
    assert not any(m.startswith("deployctl.commands.") for m in modules), sorted(modules)
    assert "networkx" not in modules and "jsonschema" not in modules


def _production_modules() -> list[Path]:
    testing = PACKAGE / "testing"
    return [p for p in sorted(PACKAGE.rglob("*.py")) if testing not in p.parents]


def test_production_code_never_imports_the_test_support() -> None:
    offenders = []
    for path in _production_modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            if any(n == "deployctl.testing" or n.startswith("deployctl.testing.") for n in names):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_production_code_reads_no_test_switch() -> None:
    switches = ("DEPLOYCTL_TEST", "DEPLOYCTL_ACTIONS", "DEPLOYCTL_FAKE")
    found = [
        str(path.relative_to(ROOT))
        for path in _production_modules()
        if any(s in path.read_text(encoding="utf-8") for s in switches)
    ]
    assert found == []
