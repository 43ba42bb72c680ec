"""Commands that never reach AWS never pay for boto3: a cold ``python -m
deployctl`` process, its imports read from ``-X importtime``.  And test
support stays out of production: nothing outside deployctl/testing imports
it or reads a test switch."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

import pytest

from deployctl import cli
from deployctl.testing.cli import imported_modules

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "deployctl"
FRAUD = "plans/fraud-or-not.yaml"


@pytest.mark.parametrize(
    "argv",
    [("--version",), ("validate", FRAUD), ("graph", FRAUD), ("schema",)],
    ids=["version", "validate", "graph", "schema"],
)
def test_commands_that_never_reach_aws_never_import_boto3(argv: tuple[str, ...]) -> None:
    modules = imported_modules(*argv)
    heavy = sorted(m for m in modules if m.split(".")[0] in ("boto3", "botocore", "moto"))
    assert heavy == []
    assert not any(m.startswith(("deployctl.testing", "deployctl.actions")) for m in modules)


def test_only_version_looks_up_the_installed_version() -> None:
    """importlib.metadata costs ~80 ms to import: validate never needs it."""
    assert "importlib.metadata" not in imported_modules("validate", FRAUD)
    assert "importlib.metadata" in imported_modules("--version")


def test_a_plan_whose_templates_are_bare_names_never_imports_jinja() -> None:
    """fraud-or-not writes only ``{{ name }}`` templates: the renderer fills
    those in itself, and Jinja (~50 ms to import) loads only for a template
    that needs it."""
    modules = imported_modules("validate", FRAUD)
    assert "deployctl.manifest.render" in modules
    assert not any(m.split(".")[0] in ("jinja2", "markupsafe") for m in modules)
    assert "deployctl.manifest.sandbox" not in modules


def test_version_imports_no_command_at_all() -> None:
    modules = imported_modules("--version")
    assert "deployctl.cli" in modules
    assert not any(m.startswith("deployctl.commands.") for m in modules), sorted(modules)
    assert "networkx" not in modules and "jsonschema" not in modules
    # nor the commands' common options, nor the config file's reader, nor
    # the diagnostics (dataclasses and inspect: ~15 ms) that only an error needs
    assert "deployctl.argtypes" not in modules and "deployctl.config" not in modules
    assert "deployctl.diagnostics" not in modules and "dataclasses" not in modules


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


def test_validate_never_loads_openssl() -> None:
    """hashlib (~5 ms: it loads OpenSSL) is for the plan's digest and secret
    tokens; ``validate`` in text mode shows neither."""
    modules = imported_modules("validate", FRAUD)
    assert "hashlib" not in modules and "_hashlib" not in modules


@pytest.mark.parametrize("columns", [None, "60", "200", "0", "wide"])
def test_help_is_as_wide_as_argparse_makes_it_and_validate_never_imports_shutil(
    monkeypatch: pytest.MonkeyPatch, columns: str | None
) -> None:
    """argparse imports shutil (~4 ms) for the terminal's width at each
    add_argument; the cli's parsers find the same width without it."""
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    ours = cli._Parser(prog="x")._get_formatter()
    assert ours._width == argparse.HelpFormatter(prog="x")._width  # type: ignore[attr-defined]
    if columns is None:
        assert "shutil" not in imported_modules("validate", FRAUD)
