"""JSON Schema validation that speaks in plan-file terms.

Every error becomes a :class:`Diagnostic` at the offending value (or, for an
unknown field, at its key), with a message a person can act on.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from deployctl.diagnostics import Diagnostic, Marks, Path

if TYPE_CHECKING:
    import jsonschema

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
    """The schema as shipped: inside the wheel, or at the top of a checkout.
    (Plain paths: importing ``importlib.resources`` costs more than the read.)"""
    packaged = os.path.join(os.path.dirname(__file__), os.pardir, "schemas", SCHEMA_NAME)
    checkout = os.path.join(os.path.realpath(__file__), *[os.pardir] * 3, "schemas", SCHEMA_NAME)
    path = packaged if os.path.isfile(packaged) else os.path.normpath(checkout)
    with open(path, encoding="utf-8") as fh:
        return fh.read()


@functools.cache
def _schema() -> dict[str, Any]:
    """The parsed schema, shared: nothing here changes it (inlining copies)."""
    parsed: dict[str, Any] = json.loads(schema_text())
    return parsed


K = TypeVar("K")
V = TypeVar("V")


class _Lazy(Mapping[K, V]):
    """``keys`` -> ``build(key)``, each built at its first use: a file of
    Deployments never compiles the FeatureFlags schema."""

    def __init__(self, keys: Iterable[K], build: Callable[[K], V]) -> None:
        self._keys = tuple(keys)
        self._build = build
        self._built: dict[K, V] = {}

    def __getitem__(self, key: K) -> V:
        if key not in self._built:
            if key not in self._keys:
                raise KeyError(key)
            self._built[key] = self._build(key)
        return self._built[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


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
    # Imported when a document is refused (0.1 s): a valid one never needs it.
    import jsonschema  # noqa: PLC0415

    schema = _schema()
    return jsonschema.Draft202012Validator(_inline(schema, schema.get("$defs", {})))


@functools.cache
def _kind_schemas() -> Mapping[str, dict[str, Any]]:
    """Each kind's own schema (complete: apiVersion, kind and its fields), refs inlined."""
    schema = _schema()
    defs = schema.get("$defs", {})
    return _Lazy(schema["properties"]["kind"]["enum"], lambda kind: _inline(defs[kind], defs))


@functools.cache
def _kind_validators() -> dict[str, jsonschema.Draft202012Validator]:
    """Each kind's own validator, so a document of a known kind skips the
    top-level ``if kind == ...`` dispatch."""
    import jsonschema  # noqa: PLC0415 - as in _validator

    return {k: jsonschema.Draft202012Validator(s) for k, s in _kind_schemas().items()}


@functools.cache
def _fast_validators() -> Mapping[str | None, Any]:
    """The same schemas compiled by jsonschema-rs: each kind's, and the whole
    one (key ``None``) for a document of no known kind; each compiled when a
    document needs it (a few milliseconds each)."""
    import jsonschema_rs  # noqa: PLC0415 - only validating commands pay for it

    schema = _schema()
    defs = schema.get("$defs", {})

    def compiled(kind: str | None) -> Any:
        root = schema if kind is None else {**defs[kind], "$defs": defs}
        return jsonschema_rs.Draft202012Validator(root, validate_formats=False)

    return _Lazy([*schema["properties"]["kind"]["enum"], None], compiled)


def _valid(data: Any, kind: Any) -> bool:
    """True if jsonschema-rs finds ``data`` valid: a tenth of the time of the
    pure-Python check, which stays the judge of anything it refuses (and of
    any value it cannot take) and alone words the errors."""
    validators = _fast_validators()
    validator = validators.get(kind) if isinstance(kind, str) else None
    try:
        return bool((validator or validators[None]).is_valid(data))
    except (ValueError, TypeError, OverflowError):  # a value JSON has no type for
        return False


def _errors(data: Any) -> list[jsonschema.ValidationError]:
    kind = data.get("kind") if isinstance(data, dict) else None
    if _valid(data, kind):
        return []
    validator = _kind_validators().get(kind) if isinstance(kind, str) else None
    return list((validator or _validator()).iter_errors(data))


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


def _did_you_mean(value: Any, choices: Iterable[Any]) -> str:
    hint = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
    return f" (did you mean {hint[0]!r}?)" if hint else ""


def _explain(
    error: jsonschema.ValidationError, marks: Marks, templates: Mapping[Path, str]
) -> list[Diagnostic]:
    path: Path = tuple(error.absolute_path)
    kind = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    value: Any = error.instance
    expected: Any = error.validator_value
    template = templates.get(path)
    # A rendered value shows where it came from: the template, then its result.
    shown = f"{template!r} rendered to {value!r}" if template is not None else repr(value)
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
    if kind == "type":
        want = str(schema.get("x-message") or f"expected {_expected(expected)}")
        if template is not None:
            return [marks.diag(path, f"{shown}, {want}")]
        return [marks.diag(path, f"{want}, got {_type_name(value)}")]
    if kind == "enum":
        choices = ", ".join(str(c) for c in expected)
        close = _did_you_mean(value, expected)
        return [marks.diag(path, f"{shown} is not one of: {choices}{close}")]
    if kind == "const":
        if template is not None:
            return [marks.diag(path, f"{shown}, must be {expected!r}")]
        return [marks.diag(path, f"must be {expected!r}, got {value!r}")]
    if kind == "pattern":
        reason = schema.get("x-message") or f"does not match {expected}"
        return [marks.diag(path, f"{shown}: {reason}")]
    if kind in ("minimum", "maximum"):
        word = "at least" if kind == "minimum" else "at most"
        if template is not None:
            return [marks.diag(path, f"{shown}, must be {word} {expected}")]
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


# A value that is exactly one template: ``"{{ share }}"``, not ``"{{ a }}-{{ b }}"``.
_ONE_TEMPLATE = re.compile(r"\s*\{\{(?:(?!\}\}|\{\{|\{%).)*\}\}\s*", re.DOTALL)
_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_BOOLEANS = {"true": True, "false": False}


def one_template(text: str) -> bool:
    return _ONE_TEMPLATE.fullmatch(text) is not None


def _convert(text: str, types: Iterable[str]) -> tuple[bool, Any]:
    """``text`` as the first of ``types`` it can be, like YAML would read it."""
    bare = text.strip()
    for wanted in types:
        if wanted == "integer" and _INTEGER.fullmatch(bare) and len(bare) < 100:
            return True, int(bare)
        if wanted == "number" and _NUMBER.fullmatch(bare) and len(bare) < 100:
            if _INTEGER.fullmatch(bare):
                return True, int(bare)
            number = float(bare)
            if math.isfinite(number):
                return True, number
        if wanted == "boolean" and bare.lower() in _BOOLEANS:
            return True, _BOOLEANS[bare.lower()]
    return False, None


# Keywords under which a subschema applies only sometimes (a branch of anyOf
# may let a string pass that another refuses), or elsewhere than its place:
# where one is met, :func:`_wanted` does not guess and the old path decides.
_SOMETIMES = ("anyOf", "oneOf", "if", "not", "dependentSchemas", "unevaluatedProperties")
_ELSEWHERE = ("$ref", "$dynamicRef", "patternProperties", "prefixItems", "unevaluatedItems")
_UNSURE = (*_SOMETIMES, *_ELSEWHERE)


def _applying(node: Any) -> Iterator[dict[str, Any]]:
    """``node`` and the subschemas that always apply at the same place (allOf)."""
    if not isinstance(node, dict):
        return
    yield node
    for branch in node.get("allOf", ()):
        yield from _applying(branch)


def _children(node: dict[str, Any], key: str | int) -> list[Any]:
    """The subschemas of ``node`` for its item or field ``key``."""
    if isinstance(key, int):
        items = node.get("items")
        return [items] if isinstance(items, dict) else []
    fields = node.get("properties", {})
    if key in fields:
        return [fields[key]]
    extra = node.get("additionalProperties")
    return [extra] if isinstance(extra, dict) else []


@functools.lru_cache(maxsize=4096)
def _wanted(kind: str, path: Path) -> tuple[str, ...] | None:
    """The types a document of ``kind`` wants at ``path`` when a string is not
    one of them, e.g. ``("integer",)`` at ``strategy.stages[0].traffic``;
    None when a string may stand there, or when the schema leaves it unsure.

    The walk follows the data's own path through the kind's schema, so it
    meets exactly the subschemas that the validator always checks there: a
    string found there is a type error, which the old path converts too."""
    places: list[Any] = [_kind_schemas()[kind]]
    for depth in range(len(path) + 1):
        nodes = [node for place in places for node in _applying(place)]
        if any(word in node for node in nodes for word in _UNSURE):
            return None
        if depth < len(path):
            places = [child for node in nodes for child in _children(node, path[depth])]
    typed = [node["type"] for node in nodes if "type" in node]
    if not typed or any(t != typed[0] for t in typed):
        return None
    wanted = (typed[0],) if isinstance(typed[0], str) else tuple(typed[0])
    return None if "string" in wanted else wanted


def _convert_templated(data: Any, templates: Mapping[Path, str]) -> None:
    """Give each value that is exactly one template the type the schema wants
    where it stands, before any check (``traffic: "{{ first }}"`` -> 5), so a
    valid templated document passes the compiled check at its first try."""
    kind = data.get("kind") if isinstance(data, dict) else None
    if not isinstance(kind, str) or kind not in _kind_schemas():
        return
    for path, template in templates.items():
        if not path or not one_template(template):
            continue
        wanted = _wanted(kind, path)
        if wanted is None:
            continue
        value: Any = data
        try:
            for item in path:
                value = value[item]
        except (KeyError, IndexError, TypeError):  # rendered, then left out (metadata)
            continue
        if isinstance(value, str):
            ok, converted = _convert(value, wanted)
            if ok:
                _set(data, path, converted)


def _type_errors(errors: Iterable[jsonschema.ValidationError]) -> Iterable[tuple[Path, list[str]]]:
    """(path, wanted types) of every type error, those inside ``oneOf`` included."""
    for error in errors:
        if error.validator == "type":
            wanted: Any = error.validator_value
            yield tuple(error.absolute_path), [wanted] if isinstance(wanted, str) else list(wanted)
        if error.context:
            yield from _type_errors(error.context)


def _set(data: Any, path: Path, value: Any) -> None:
    for item in path[:-1]:
        data = data[item]
    data[path[-1]] = value


def _coerce(
    data: Any, errors: list[jsonschema.ValidationError], templates: Mapping[Path, str]
) -> bool:
    """Give each value that is exactly one template the type the schema wants
    where it stands (``traffic: "{{ first_step }}"`` -> 10); True if any changed."""
    changed = False
    for path, types in _type_errors(errors):
        template = templates.get(path)
        if template is None or not path or not one_template(template):
            continue
        value: Any = data
        try:
            for item in path:
                value = value[item]
        except (KeyError, IndexError, TypeError):  # pragma: no cover - the path came from data
            continue
        if not isinstance(value, str):
            continue
        ok, converted = _convert(value, types)
        if ok:
            _set(data, path, converted)
            changed = True
    return changed


def validate(
    data: Any,
    marks: Marks,
    templates: Mapping[Path, str] | None = None,
    skip: Iterable[Path] = (),
) -> list[Diagnostic]:
    """Every schema problem in one document, in file order.

    ``templates`` maps the paths of rendered values to the template written
    there: a value that is exactly one template is converted (in ``data``) to
    the type the schema wants, and a problem with a rendered value shows both.
    Problems at or under a path in ``skip`` (a value that did not render) are
    left out: the template error already says what is wrong there.
    """
    templates = templates or {}
    if templates:
        _convert_templated(data, templates)
    errors = _errors(data)
    if errors and templates and _coerce(data, errors, templates):
        errors = _errors(data)
    skipped = tuple(skip)
    out: list[Diagnostic] = []
    for error in errors:
        if error.validator in ("allOf", "if", "then"):  # pragma: no cover - we see the leaves
            continue
        where = tuple(error.absolute_path)
        if any(where[: len(s)] == s for s in skipped):
            continue
        out.extend(_explain(error, marks, templates))
    # A wrapper error may repeat what a leaf already said.
    return sorted(set(out))
