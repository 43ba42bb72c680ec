"""Frozen dataclasses that cost little to define: the base and the decorator
of the manifest model, the params classes, the plan and the small records a
command defines at import.

Each such class is ``@frozen`` (or ``@frozen(kw_only=True)``) on
:class:`Frozen`, and behaves as a plain ``@dataclass(frozen=True)`` would:
``==`` compares the fields of two objects of the same class (those with
``compare=True``), ``hash`` hashes the same tuple (no field sets ``hash=``),
``repr`` shows the fields with ``repr=True``, assigning or deleting any
attribute raises :class:`dataclasses.FrozenInstanceError`, and ``__init__``
takes the fields as dataclass's own does (same order, defaults, factories).
On :class:`Ordered` instead, objects also sort as with ``order=True``.

Why not let ``dataclass`` write them: it compiles every method it generates
from source, in every process.  A cold ``deployctl validate`` defined 97
frozen classes, and compiling their methods took ~80 ms of its ~0.35 s.
Here ``dataclass`` only collects the fields; ``==``, ``hash``, ``repr``,
``__setattr__`` and ``__delattr__`` are the same for every class, so they live
on :class:`Frozen`; ``__init__`` reads a table of the fields for a class's
first objects and is compiled only for a class a run builds many of (or when
a call is wrong, so the error is dataclass's own).  (Each class needs a
docstring: for one without, dataclass writes one from ``inspect.signature``,
before ``__init__`` exists.)  mypy reads ``@frozen`` as a frozen dataclass
(``dataclass_transform``); ``dataclasses`` itself sees a dataclass without
methods of its own (``__dataclass_params__``), so a subclass is ``@frozen``
too, never ``@dataclass(frozen=True)``, and ``__post_init__``,
``field(init=False)`` and ``InitVar`` are not supported.
``tests/test_model_frozen.py`` checks they answer as dataclass's own do.
"""

from __future__ import annotations

import dataclasses
import reprlib
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar, dataclass_transform, overload

_T = TypeVar("_T", bound=type)


class _Factory:
    """The default of an argument whose field has a ``default_factory``."""

    def __repr__(self) -> str:
        return "<factory>"  # as dataclass's: the signatures read the same


_FACTORY = _Factory()


def _names(cls: type, which: str) -> tuple[str, ...]:
    """The fields of ``cls`` with ``which`` (``compare`` or ``repr``) set, in order."""
    key = f"_frozen_{which}"
    names: tuple[str, ...] | None = cls.__dict__.get(key)
    if names is None:
        names = tuple(f.name for f in dataclasses.fields(cls) if getattr(f, which))
        type.__setattr__(cls, key, names)
    return names


class Frozen:
    __slots__ = ()

    def _compared(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _names(type(self), "compare"))

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__ or not isinstance(other, Frozen):
            return NotImplemented
        return self._compared() == other._compared()

    def __hash__(self) -> int:
        return hash(self._compared())

    @reprlib.recursive_repr()
    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in _names(type(self), "repr"))
        return f"{self.__class__.__qualname__}({shown})"

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


class Ordered(Frozen):
    """A :class:`Frozen` class whose objects sort by their compared fields, as
    ``@dataclass(order=True)``'s do (objects of one class only)."""

    __slots__ = ()

    def __lt__(self, other: object) -> bool:
        if other.__class__ is not self.__class__ or not isinstance(other, Frozen):
            return NotImplemented
        return self._compared() < other._compared()

    def __le__(self, other: object) -> bool:
        if other.__class__ is not self.__class__ or not isinstance(other, Frozen):
            return NotImplemented
        return self._compared() <= other._compared()

    def __gt__(self, other: object) -> bool:
        if other.__class__ is not self.__class__ or not isinstance(other, Frozen):
            return NotImplemented
        return self._compared() > other._compared()

    def __ge__(self, other: object) -> bool:
        if other.__class__ is not self.__class__ or not isinstance(other, Frozen):
            return NotImplemented
        return self._compared() >= other._compared()


def _write_init(cls: type) -> Callable[..., None]:
    """``cls.__init__`` as ``@dataclass(frozen=True)`` writes it: the fields
    in their order, keyword-only ones after a ``*``, each default or factory
    used when its argument is left out."""
    every = dataclasses.fields(cls)
    me = "__dataclass_self__" if "self" in {f.name for f in every} else "self"
    scope: dict[str, Any] = {"_set": object.__setattr__, "_FACTORY": _FACTORY}
    positional: list[str] = []
    keyword: list[str] = []
    body: list[str] = []
    for f in every:
        value = f.name
        if f.default is not dataclasses.MISSING:
            scope[f"_dflt_{f.name}"] = f.default
            arg = f"{f.name}=_dflt_{f.name}"
        elif f.default_factory is not dataclasses.MISSING:
            scope[f"_dflt_{f.name}"] = f.default_factory
            arg = f"{f.name}=_FACTORY"
            value = f"_dflt_{f.name}() if {f.name} is _FACTORY else {f.name}"
        else:
            arg = f.name
        (keyword if f.kw_only else positional).append(arg)
        body.append(f"    _set({me}, {f.name!r}, {value})")
    args = [me, *positional, *(["*", *keyword] if keyword else [])]
    source = "\n".join([f"def __init__({', '.join(args)}):", *body, "    pass"])
    exec(source, scope)  # noqa: S102 - our own field names
    init: Callable[..., None] = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    return init


# (name, position, default, factory) of each field in order; position is None
# for a keyword-only field.  And how many are positional.
_Spec = tuple[tuple[tuple[str, int | None, Any, Any], ...], int]
# Objects of one class built from its fields' table before its __init__ is
# compiled: the table costs ~2 us more per object, compiling ~0.2 ms, and a
# cold ``validate`` builds 34 classes' objects, none more than 16 times.
_WARM = 64


def _spec(cls: type) -> _Spec:
    out = []
    positional = 0
    for f in dataclasses.fields(cls):
        out.append((f.name, None if f.kw_only else positional, f.default, f.default_factory))
        positional += not f.kw_only
    return tuple(out), positional


def _fill(obj: Any, spec: _Spec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Set ``obj``'s fields from a call's arguments as the compiled __init__
    would; False if the call is one it refuses (it then says why)."""
    every, positional = spec
    if len(args) > positional:
        return False
    taken = 0
    for name, at, default, factory in every:
        if at is not None and at < len(args):
            if name in kwargs:
                return False
            value = args[at]
        elif name in kwargs:
            value = kwargs[name]
            taken += 1
        elif default is not dataclasses.MISSING:
            value = default
        elif factory is not dataclasses.MISSING:
            value = factory()
        else:
            return False
        object.__setattr__(obj, name, value)
    return taken == len(kwargs)


def _lazy_init(cls: type) -> Callable[..., None]:
    """``cls.__init__`` until the compiled one replaces it: after ``_WARM``
    objects, or at the first call that is a mistake, so its errors are the
    compiled one's (dataclass's) own."""
    spec: _Spec | None = None
    built = 0

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal spec, built
        built += 1
        if built <= _WARM:
            spec = spec or _spec(cls)
            if _fill(self, spec, args, kwargs):
                return
        init = _write_init(cls)
        type.__setattr__(cls, "__init__", init)
        init(self, *args, **kwargs)

    return __init__


@overload
def frozen(cls: _T, /) -> _T: ...
@overload
def frozen(*, kw_only: bool = False) -> Callable[[_T], _T]: ...
@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def frozen(cls: _T | None = None, /, *, kw_only: bool = False) -> _T | Callable[[_T], _T]:
    """``@dataclass(frozen=True, kw_only=...)`` for a subclass of :class:`Frozen`."""

    def wrap(cls: _T) -> _T:
        if not issubclass(cls, Frozen):
            raise TypeError(f"@frozen {cls.__qualname__}: not a subclass of Frozen")
        if not cls.__dict__.get("__doc__"):
            raise TypeError(f"@frozen {cls.__qualname__}: give it a docstring")
        if hasattr(cls, "__post_init__"):
            raise TypeError(f"@frozen {cls.__qualname__}: __post_init__ is not supported")
        # No method to write: Frozen has them, and __init__ is _lazy_init's.
        done: Any = dataclasses.dataclass(cls, init=False, repr=False, eq=False, kw_only=kw_only)
        if any(not f.init for f in dataclasses.fields(done)):
            raise TypeError(f"@frozen {cls.__qualname__}: field(init=False) is not supported")
        if "__init__" not in cls.__dict__:
            type.__setattr__(cls, "__init__", _lazy_init(cls))
        return cls

    return wrap if cls is None else wrap(cls)
