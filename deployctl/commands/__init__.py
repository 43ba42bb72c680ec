"""One module per subcommand; each exposes ``register(subparsers, common)``.

A command's module is imported only when that command runs (all of them for
``--help`` and usage errors, none for ``--version``), so no command pays for
another's imports: ``validate`` never loads boto3 because ``db`` needs it.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from types import ModuleType

# In the order ``deployctl --help`` lists them.
NAMES = (
    "validate",
    "plan",
    "graph",
    "export",
    "schema",
    "flags",
    "db",
    "apply",
    "resume",
    "status",
    "runs",
    "approve",
    "rollback",
    "unlock",
    "report",
    "completion",
)


def wanted(argv: Sequence[str]) -> tuple[str, ...]:
    """The commands whose modules parsing ``argv`` needs."""
    first = next((a for a in argv if not a.startswith("-")), None)
    if first in NAMES:
        return (first,)
    if first is None and "--version" in argv and not {"-h", "--help"} & set(argv):
        return ()
    return NAMES


def load(names: Sequence[str]) -> list[ModuleType]:
    return [importlib.import_module(f"deployctl.commands.{name}") for name in names]
