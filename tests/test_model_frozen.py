"""The manifest model's shared ``==``, ``hash`` and ``repr`` (core/frozen.py)
answer as the ones ``@dataclass(frozen=True)`` generates would: each object of
every example plan and golden case is compared with its twin, a plain frozen
dataclass with the same fields and values.  ``@frozen``'s ``__init__`` (the
params classes' too) takes the same arguments, whether it reads the fields'
table (a class's first objects) or is compiled, and nothing can be set."""

from __future__ import annotations

import dataclasses
import inspect
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployctl.core import params
from deployctl.core.frozen import Frozen, frozen
from deployctl.core.params import Route53RoutingParams
from deployctl.diagnostics import Diagnostic
from deployctl.errors import UserError
from deployctl.manifest import LoadOptions, load_file, model

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted([*ROOT.glob("plans/*.yaml"), *ROOT.glob("tests/cases/*/plan.yaml")])
MODEL = [c for _, c in inspect.getmembers(model, inspect.isclass) if c.__module__ == model.__name__]


def _objects(value: Any) -> Iterator[Frozen]:
    if isinstance(value, Frozen):
        yield value
        for f in dataclasses.fields(value):  # type: ignore[arg-type]
            yield from _objects(getattr(value, f.name))
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _objects(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _objects(item)


def _corpus() -> dict[type, list[Frozen]]:
    found: dict[type, list[Frozen]] = {}
    for path in FILES:
        try:
            manifests = load_file(str(path), LoadOptions(environ={}))
        except UserError:  # a case that shows an error
            continue
        for obj in _objects(manifests):
            found.setdefault(type(obj), []).append(obj)
    return found


CORPUS = _corpus()


def _hash(value: object) -> object:
    """``hash(value)``, or the error it raises (a dict inside is unhashable both ways)."""
    try:
        return hash(value)
    except TypeError as exc:
        return str(exc)


def _twin_class(cls: type) -> Any:
    """``cls`` as a plain ``@dataclass(frozen=True)``: same name, fields and flags."""
    fields = dataclasses.fields(cls)
    return dataclasses.make_dataclass(
        cls.__qualname__,
        [(f.name, f.type, dataclasses.field(compare=f.compare, repr=f.repr)) for f in fields],
        frozen=True,
    )


def test_every_model_class_uses_the_shared_methods_and_most_are_in_the_corpus() -> None:
    frozen = [c for c in MODEL if dataclasses.is_dataclass(c)]
    assert len(frozen) > 30 and all(issubclass(c, Frozen) for c in frozen)
    assert len(set(CORPUS) & set(frozen)) > 25


CLASSES = {c.__name__: c for c in CORPUS}


@pytest.mark.parametrize("cls", [CLASSES[n] for n in sorted(CLASSES)], ids=sorted(CLASSES))
def test_eq_hash_and_repr_answer_as_a_frozen_dataclass_would(cls: type) -> None:
    objects = CORPUS[cls][:20]
    twin = _twin_class(cls)
    twins = [twin(**{f.name: getattr(o, f.name) for f in dataclasses.fields(cls)}) for o in objects]
    for obj, other in zip(objects, twins, strict=True):
        assert repr(obj) == repr(other)
        assert _hash(obj) == _hash(other)
        assert obj == dataclasses.replace(obj)  # type: ignore[type-var]
        assert obj.__eq__(other) is NotImplemented  # another class, as dataclass's eq says
    for (a, ta), (b, tb) in itertools.combinations(zip(objects, twins, strict=True), 2):
        assert (a == b) == (ta == tb)
        assert (a != b) == (ta != tb)


def test_a_model_object_stays_frozen() -> None:
    [obj, *_] = (o for o in CORPUS[model.LambdaTarget] if isinstance(o, model.LambdaTarget))
    with pytest.raises(dataclasses.FrozenInstanceError):
        obj.alias = "other"  # type: ignore[misc]


def _frozen_classes() -> list[type]:
    found = [*MODEL, *(c for _, c in inspect.getmembers(params, inspect.isclass))]
    return sorted({c for c in found if issubclass(c, Frozen) and c is not Frozen}, key=repr)


def _parameters(init: Any) -> list[tuple[str, object, object]]:
    """``init``'s parameters; a default that comes from a factory reads "factory"."""
    out = []
    for p in inspect.signature(init).parameters.values():
        default = p.default
        if repr(default) == "<factory>":
            default = "factory"
        out.append((p.name, p.kind, default))
    return out


def _same_field(f: dataclasses.Field[Any]) -> Any:
    return dataclasses.field(  # type: ignore[call-overload]
        default=f.default, default_factory=f.default_factory, kw_only=f.kw_only
    )


@pytest.mark.parametrize("cls", _frozen_classes(), ids=lambda c: c.__qualname__)
def test_init_takes_the_arguments_a_frozen_dataclass_would(cls: type) -> None:
    """``@frozen``'s compiled ``__init__`` (written at the first mistaken call):
    same parameters (order, keyword-only, defaults) as ``@dataclass(frozen=True)``."""
    fields = dataclasses.fields(cls)
    twin = dataclasses.make_dataclass(
        cls.__qualname__,
        [(f.name, f.type, _same_field(f)) for f in fields],
        frozen=True,
    )
    with pytest.raises(TypeError):
        cls(**{"no such field": 1})  # writes __init__, which refuses it
    assert _parameters(cls.__init__) == _parameters(twin.__init__)


def test_a_factory_default_is_built_per_object_and_no_attribute_can_be_set_or_deleted() -> None:
    given = {"hosted_zone_id": "Z1", "record_name": "api", "policy": "latency", "records": {}}
    one, two = Route53RoutingParams(**given), Route53RoutingParams(**given)
    assert one.failover == {} and one.failover is not two.failover
    assert Route53RoutingParams(**given, failover={"a": "PRIMARY"}).failover == {"a": "PRIMARY"}
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'ttl'"):
        one.ttl = 5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'other'"):
        one.other = 5  # type: ignore[attr-defined]
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot delete field 'ttl'"):
        del one.ttl  # type: ignore[misc]
    assert dataclasses.replace(one, ttl=5).ttl == 5


@frozen
class _Sample(Frozen):
    """Every kind of field: positional, defaults, a factory, keyword-only."""

    a: int
    b: str = "b"
    c: dict[str, int] = dataclasses.field(default_factory=dict)
    d: int = dataclasses.field(default=4, kw_only=True)
    e: int = dataclasses.field(kw_only=True)


@dataclasses.dataclass(frozen=True)
class _Twin:
    a: int
    b: str = "b"
    c: dict[str, int] = dataclasses.field(default_factory=dict)
    d: int = dataclasses.field(default=4, kw_only=True)
    e: int = dataclasses.field(kw_only=True)


GOOD: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((1,), {"e": 5}),
    ((1, "x"), {"e": 5}),
    ((1, "x", {"k": 1}), {"e": 5, "d": 6}),
    ((), {"a": 1, "e": 2}),
    ((1,), {"b": "y", "d": 7, "e": 1}),
    ((), {"e": 2, "c": {}, "a": 3}),
]
BAD: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((), {}),
    ((1,), {}),
    ((1, "x", {}, 4), {"e": 1}),
    ((1,), {"a": 2, "e": 1}),
    ((1,), {"e": 1, "zz": 3}),
    ((), {"b": "x", "e": 1}),
]


def _built(cls: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> object:
    try:
        return list(vars(cls(*args, **kwargs)).items())
    except TypeError as exc:
        return str(exc).replace(cls.__qualname__, "C")


def test_init_from_the_fields_table_then_compiled_answers_every_call_as_dataclass() -> None:
    """The first objects come from the fields' table, a mistaken call
    compiles ``__init__`` (its error is dataclass's), later ones use it."""
    assert "_lazy_init" in _Sample.__init__.__qualname__
    for args, kwargs in GOOD:
        assert _built(_Sample, args, kwargs) == _built(_Twin, args, kwargs)
    assert "_lazy_init" in _Sample.__init__.__qualname__  # still the table
    for args, kwargs in [*BAD, *GOOD]:
        assert _built(_Sample, args, kwargs) == _built(_Twin, args, kwargs)
    assert _Sample.__init__.__qualname__ == "_Sample.__init__"  # compiled
    first, second = _Sample(1, e=1), _Sample(1, e=1)
    assert first.c == {} and first.c is not second.c


def test_diagnostics_sort_compare_and_hash_as_an_ordered_frozen_dataclass_would() -> None:
    twin = dataclasses.make_dataclass(
        "Diagnostic",
        [(f.name, f.type, _same_twin_field(f)) for f in dataclasses.fields(Diagnostic)],
        frozen=True,
        order=True,
    )
    given = [
        ("b.yaml", 3, 1, "z", ("a",)),
        ("a.yaml", 3, 2, "y", ()),
        ("a.yaml", 3, 2, "x", ("b", 1)),
        ("a.yaml", 1, 9, "y", ()),
        ("a.yaml", 1, 9, "y", ("other", "path")),  # path is not compared
    ]
    ours = [Diagnostic(*g, source="line") for g in given]
    twins = [twin(*g, source="line") for g in given]
    assert [given[ours.index(d)] for d in sorted(ours)] == [
        given[twins.index(t)] for t in sorted(twins)
    ]
    for (a, ta), (b, tb) in itertools.product(zip(ours, twins, strict=True), repeat=2):
        assert (a < b, a <= b, a > b, a >= b, a == b) == (
            ta < tb,
            ta <= tb,
            ta > tb,
            ta >= tb,
            ta == tb,
        )
        assert (hash(a) == hash(b)) == (hash(ta) == hash(tb))
    assert [repr(d) for d in ours] == [repr(t) for t in twins]
    assert Diagnostic().__lt__(twins[0]) is NotImplemented


def _same_twin_field(f: dataclasses.Field[Any]) -> Any:
    return dataclasses.field(default=f.default, compare=f.compare, repr=f.repr)
