"""Every file a plan names resolves inside the plan's repository.

The fields that name files (a Lambda ``zip_file``, a CloudFormation
``template``, an ECS ``task_definition``, a Pipeline's ``plan``, and the arguments of a ``command`` that
are paths) are checked once rendered, at their ``file:line:col``: the path,
relative to the plan file and with symlinks followed, must stay inside the
plan's repository (:func:`deployctl.files.repository_root`) or a folder the
user allowed with ``--allow-path``; and if the file is there already, it must
be a regular file within its cap.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator
from typing import Any

from deployctl import files
from deployctl.core.frozen import Frozen, frozen
from deployctl.core.refs import REF
from deployctl.diagnostics import Diagnostic, Marks, Path
from deployctl.manifest.refs import RUNTIME_NAMES


@frozen
class PathRule(Frozen):
    """Where a plan's relative paths start (``base``) and where they may lead."""

    base: str  # the plan file's folder
    roots: tuple[str, ...]  # the repository, then every --allow-path folder

    def problem(self, value: str, cap: int, what: str) -> str | None:
        unknown = [
            m.group(0) for m in REF.finditer(value) if m.group(1).strip() not in RUNTIME_NAMES
        ]
        if unknown:
            return (
                f"a file path cannot use {unknown[0]}: its value is known only at run time, "
                "so deployctl could not check where it leads"
            )
        # ${region}, ${idle_color}...: letters, digits and dashes; never a '/' or '..'
        full = os.path.join(self.base, REF.sub("x", value))
        if not files.inside(full, self.roots):
            allowed = ", ".join(self.roots)
            return (
                f"{value!r} leads outside the plan's repository ({allowed}), symlinks followed; "
                "a plan reads files only from there (--allow-path DIR allows another folder)"
            )
        why = files.check(full, cap, what) if cap else None
        return f"{value!r}: {why}" if why else None


def _file_fields(data: dict[str, Any]) -> Iterator[tuple[Path, int, str]]:
    """(document path, size cap, what it is) of every field that names a file."""
    if data.get("kind") == "Pipeline":
        yield ("plan",), files.MAX_PLAN_BYTES, "plan file"
        return
    for top in ("target", "deploy"):
        section = data.get(top)
        if not isinstance(section, dict):
            continue
        lam = section.get("lambda")
        if isinstance(lam, dict) and isinstance(lam.get("code"), dict):
            yield (top, "lambda", "code", "zip_file"), files.MAX_ZIP_BYTES, "Lambda code zip"
        if isinstance(section.get("cloudformation"), dict):
            yield (top, "cloudformation", "template"), files.MAX_TEMPLATE_BYTES, "template"
        if isinstance(section.get("ecs"), dict):
            yield (
                (top, "ecs", "task_definition"),
                files.MAX_TASK_DEFINITION_BYTES,
                "task definition",
            )
    commands: list[tuple[Path, Any]] = []
    if isinstance(data.get("deploy"), dict):
        commands.append((("deploy", "command"), data["deploy"].get("command")))
    for i, phase in enumerate(data.get("phases") or ()):
        for name, spec in phase.items() if isinstance(phase, dict) else ():
            if isinstance(spec, dict):
                commands.append((("phases", i, name, "command"), spec.get("command")))
    for where, argv in commands:
        for n, arg in enumerate(argv if isinstance(argv, list) else ()):
            if isinstance(arg, str) and _names_a_file(arg, first=n == 0):
                yield (*where, n), 0, "script"  # the program reads it, not deployctl


def _names_a_file(arg: str, *, first: bool) -> bool:
    """Whether a command argument is a path deployctl should check: it holds a
    ``/`` and is neither an option nor a URL.  The program itself may be an
    absolute path (``/usr/bin/python3``): that is the machine's, not the plan's."""
    if "/" not in arg or arg.startswith("-") or "://" in arg:
        return False
    return not (first and os.path.isabs(arg))


def check_paths(
    data: dict[str, Any], marks: Marks, rule: PathRule, skip: Collection[Path] = ()
) -> list[Diagnostic]:
    """A diagnostic at every file path of a rendered document that breaks the
    rule (but not at ``skip``, the values that failed to render)."""
    out = []
    for path, cap, what in _file_fields(data):
        if path in skip:
            continue
        value: Any = data
        for key in path:
            if isinstance(value, dict):
                value = value.get(key)
            elif isinstance(value, list) and isinstance(key, int) and key < len(value):
                value = value[key]
            else:
                value = None
        if isinstance(value, str) and value:
            why = rule.problem(value, cap, what)
            if why:
                out.append(marks.diag(path, why))
    return out
