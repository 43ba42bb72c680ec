"""JSON Schema validation that speaks in plan-file terms.

Every error becomes a :class:`Diagnostic` at the offending value (or, for an
unknown field, at its key), with a message a person can act on.
"""

from __future__ import annotations

import difflib
import functools
import json
from importlib import resources
from pathlib import Path as FsPath
from typing import Any

import jsonschema

from deployctl.diagnostics import Diagnostic, Marks, Path

SCHEMA_NAME = "deployctl-v1.schema.json"
_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "nothing",
}


def schema_text() -> str:
    """The schema as shipped: inside the wheel, or at the top of a checkout."""
    packaged = resources.files("deployctl").joinpath("schemas", SCHEMA_NAME)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    checkout = FsPath(__file__).resolve().parents[2] / "schemas" / SCHEMA_NAME
    return checkout.read_text(encoding="utf-8")


def _inline(node: Any, defs: dict[str, Any], stack: tuple[str, ...] = ()) -> Any:
    """``node`` with each local ``{"$ref": "#/$defs/X"}`` replaced by a copy of X.

    jsonschema resolves a ``$ref`` through ``referencing`` on every visit; for
    a plan with thousands of flags and stages that lookup cost more than the
    checks themselves.  A ref with sibling keywords becomes ``allOf`` (same
    meaning in draft 2020-12); a recursive ref is left as it is.
    """
    if isinstance(node, list):
        return [_inline(item, defs, stack) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    name = ref.removeprefix("#/$defs/") if isinstance(ref, str) else None
    out = {k: _inline(v, defs, stack) for k, v in node.items() if k != "$ref" or name is None}
    if name is None:
        return out
    if name not in defs or name in stack:
        out["$ref"] = ref
        return out
    target = _inline(defs[name], defs, (*stack, name))
    if not out:
        return target
    out.setdefault("allOf", []).append(target)
    return out


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(schema_text())
    return jsonschema.Draft202012Validator(_inline(schema, schema.get("$defs", {})))


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {value!r}"
    if value is None:
        return "nothing"
    return repr(value)


def _expected(types: Any) -> str:
    names = [types] if isinstance(types, str) else list(types)
    return " or ".join(_TYPE_NAMES.get(t, t) for t in names)


def _explain(error: jsonschema.ValidationError, marks: Marks) -> list[Diagnostic]:
    path: Path = tuple(error.absolute_path)
    kind = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    value: Any = error.instance
    expected: Any = error.validator_value
    if kind == "additionalProperties" and isinstance(value, dict):
        known = sorted(schema.get("properties", {}))
        out = []
        for key in value:
            if key in known:
                continue
            hint = difflib.get_close_matches(key, known, n=1)
            tip = (
                f" (did you mean {hint[0]!r}?)"
                if hint
                else f" (expected one of: {', '.join(known)})"
            )
            out.append(marks.diag((*path, key), f"unknown field {key!r}{tip}", key=True))
        return out
    if kind == "required":
        missing = [k for k in expected if k not in value]
        return [marks.diag(path, f"missing required field {k!r}") for k in missing]
    if kind == "type" and schema.get("x-message"):
        return [marks.diag(path, f"{schema['x-message']}, got {_type_name(value)}")]
    if kind == "type":
        return [marks.diag(path, f"expected {_expected(expected)}, got {_type_name(value)}")]
    if kind == "enum":
        choices = ", ".join(str(c) for c in expected)
        return [marks.diag(path, f"{value!r} is not one of: {choices}")]
    if kind == "const":
        return [marks.diag(path, f"must be {expected!r}, got {value!r}")]
    if kind == "pattern":
        reason = schema.get("x-message") or f"does not match {expected}"
        return [marks.diag(path, f"{value!r}: {reason}")]
    if kind in ("minimum", "maximum"):
        word = "at least" if kind == "minimum" else "at most"
        return [marks.diag(path, f"must be {word} {expected}, got {value!r}")]
    if kind in ("minProperties", "maxProperties") and isinstance(value, dict):
        choices = ", ".join(sorted(schema.get("properties", {})))
        if kind == "maxProperties":
            given = ", ".join(value)
            return [marks.diag(path, f"set only one of {choices} (found {given})")]
        return [marks.diag(path, f"set one of {choices}")]
    if kind == "minItems":
        return [marks.diag(path, f"needs at least {expected} item(s)")]
    if kind == "propertyNames":
        return [marks.diag(path, f"bad name: {error.message}")]
    return [marks.diag(path, error.message)]


def validate(data: Any, marks: Marks) -> list[Diagnostic]:
    """Every schema problem in one document, in file order."""
    out: list[Diagnostic] = []
    for error in _validator().iter_errors(data):
        if error.validator in ("allOf", "if", "then"):  # pragma: no cover - we see the leaves
            continue
        out.extend(_explain(error, marks))
    # A wrapper error may repeat what a leaf already said.
    return sorted(set(out))
