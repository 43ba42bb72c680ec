"""The base of the manifest model's classes: equality, hash and repr written once.

Each model class is ``@dataclass(frozen=True, eq=False, repr=False)`` on
:class:`Frozen`, and behaves as a plain ``@dataclass(frozen=True)`` would:
``==`` compares the fields of two objects of the same class (those with
``compare=True``), ``hash`` hashes the same tuple (no field sets ``hash=``), ``repr`` shows the fields
with ``repr=True``.  Why not let ``dataclass`` write them: it compiles every
method it generates from source, in every process, and six methods for each
of the model's 36 classes took ~50 ms, a sixth of a cold ``deployctl
validate``; three of the six are the same for every class, so they live here.
(Each class also has a docstring: for one without, dataclass writes one from
``inspect.signature``, another ~0.1 ms a class.)
``tests/test_model_frozen.py`` checks they answer as dataclass's own do.
"""

from __future__ import annotations

import dataclasses
import reprlib
from typing import Any


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
