"""Read YAML into plain data while remembering where every value came from.

We compose the node graph with PyYAML's safe (C when available) loader and
build the Python values ourselves, so that:

- every value and key gets a ``file:line:col`` mark (see :class:`Marks`);
- only the YAML core types are built: a tag such as ``!!python/object`` is a
  diagnostic, never an object;
- duplicate keys are an error rather than a silent overwrite;
- alias expansion is bounded, so a "billion laughs" file fails fast.
"""

from __future__ import annotations

import datetime
import itertools
import math
import operator
import re
from collections.abc import Iterable, Iterator
from typing import Any

import yaml

from deployctl.core.frozen import Frozen, frozen
from deployctl.diagnostics import Diagnostic, Marks, Path
from deployctl.errors import UserError

try:  # pragma: no cover - depends on how PyYAML was built
    _Base: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover
    _Base = yaml.SafeLoader

_TAGS: dict[str, str] = {}  # plain scalar text -> its tag
_TAGS_MAX = 4096
_TAG_TEXT_MAX = 64


class _Loader(_Base):  # type: ignore[valid-type,misc]
    """The safe loader, with each plain scalar's tag resolved once per text:
    a file of 1,000 services writes the same few hundred keys and values,
    and resolving (a regex per scalar, called from C) was a fifth of composing.
    The safe loader has no path resolvers, so that tag depends on the text alone."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is not yaml.ScalarNode or not implicit[0]:
            tag: str = super().resolve(kind, value, implicit)
            return tag
        cached = _TAGS.get(value)
        if cached is not None:
            return cached
        tag = super().resolve(kind, value, implicit)
        if len(_TAGS) < _TAGS_MAX and len(value) <= _TAG_TEXT_MAX:
            _TAGS[value] = tag
        return tag


# Builds int, float, bool and null scalars; holds no state for them.
_CONSTRUCTOR = yaml.constructor.SafeConstructor()

_STR = "tag:yaml.org,2002:str"
_SCALAR_TAGS = {
    _STR,
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
}
# A mapping key may be written as any scalar but a date; it is kept as text.
_KEY_TAGS = _SCALAR_TAGS - {"tag:yaml.org,2002:timestamp"}
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
# Values in a file, aliases expanded: three times a 10,000-step plan, and few
# enough that building them (with their marks) stays well under 200 MB.
MAX_NODES = 150_000
MAX_DEPTH = 64  # nesting: real plans stay under 15; deeper would exhaust the stack
_BRACKETS = re.compile(r"[\[\]{}]")
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")


@frozen
class Document(Frozen):
    """One YAML document of a plan file: its data and its marks."""

    data: Any
    marks: Marks
    index: int  # 0-based position in the file


class _Builder:
    def __init__(self, file: str, lines: list[str]) -> None:
        self.lines = lines
        self.marks = Marks(file, lines=lines)
        self.errors: list[Diagnostic] = []
        self._open: set[int] = set()  # ids of the collections being built (alias loops)
        # Bound once: build runs for every value and key of the file.
        self._values = self.marks.values
        self._keys = self.marks.keys
        self._quoted = self.marks.quoted
        self._verbatim = self.marks.verbatim

    def _pos(self, node: yaml.Node) -> tuple[int, int]:
        return (node.start_mark.line + 1, node.start_mark.column + 1)

    def _error(self, node: yaml.Node, path: Path, message: str) -> None:
        line, col = self._pos(node)
        self.errors.append(Diagnostic(self.marks.file, line, col, message, path))

    def build(self, node: yaml.Node, path: Path) -> Any:
        mark = node.start_mark
        self._values[path] = (mark.line + 1, mark.column + 1)
        if len(path) > MAX_DEPTH:
            self._error(node, path, f"nested more than {MAX_DEPTH} levels deep")
            return None
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        if id(node) in self._open:
            self._error(node, path, "an alias refers to a collection that contains it")
            return None
        self._open.add(id(node))
        try:
            return self._collection(node, path)
        finally:
            self._open.discard(id(node))

    def _collection(self, node: yaml.Node, path: Path) -> Any:
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                self._error(node, path, f"unsupported YAML tag {node.tag!r}")
            return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            if node.tag != _MAP:
                self._error(node, path, f"unsupported YAML tag {node.tag!r}")
            return self._mapping(node, path)
        raise AssertionError(f"unknown node {node!r}")  # pragma: no cover

    def _scalar(self, node: yaml.ScalarNode, path: Path) -> Any:
        start, end = node.start_mark, node.end_mark
        line = start.line
        if line == end.line and line < len(self.lines):
            written = self.lines[line][start.column : end.column]
            if node.style in ('"', "'"):
                self._quoted.add(path)
                written = written[1:-1]
            if written == node.value:
                self._verbatim.add(path)
        tag = node.tag
        if tag == _STR:
            return node.value
        if tag not in _SCALAR_TAGS:
            self._error(node, path, f"unsupported YAML tag {tag!r}")
            return node.value
        if tag == "tag:yaml.org,2002:timestamp":
            return node.value  # dates stay text: plans pass them on, never compute with them
        try:
            value = _CONSTRUCTOR.yaml_constructors[node.tag](_CONSTRUCTOR, node)
        except (yaml.YAMLError, ValueError, KeyError):  # "!!int abc", "!!bool maybe"
            self._error(node, path, f"bad {node.tag.rsplit(':', 1)[-1]} value {node.value!r}")
            return node.value
        if isinstance(value, datetime.date):  # pragma: no cover - tag handled above
            return node.value
        if isinstance(value, float) and not math.isfinite(value):
            # .nan passes every minimum/maximum check and never trips a gate, and
            # neither it nor .inf can be written to the JSON plan.
            self._error(node, path, f"{node.value!r} is not a finite number")
            return node.value
        return value

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        keys = self._keys
        for key_node, value_node in self._pairs(node):
            if key_node.tag not in _KEY_TAGS or not isinstance(key_node, yaml.ScalarNode):
                self._error(key_node, path, "mapping keys must be plain strings")
                continue
            key = key_node.value
            child = (*path, key)
            if key in out:
                self._error(key_node, child, f"duplicate key {key!r}")
                continue
            mark = key_node.start_mark
            keys[child] = (mark.line + 1, mark.column + 1)
            out[key] = self.build(value_node, child)
        return out

    def _pairs(
        self, node: yaml.MappingNode, merging: frozenset[int] = frozenset()
    ) -> Iterable[tuple[yaml.Node, yaml.Node]]:
        """Key/value pairs with YAML merge keys (``<<: *base``) expanded."""
        pairs: list[tuple[yaml.Node, yaml.Node]] = node.value
        for key_node, _ in pairs:
            if key_node.tag == _MERGE:
                return self._merged_pairs(node, merging)
        return pairs  # nearly every mapping: nothing to merge

    def _merged_pairs(
        self, node: yaml.MappingNode, merging: frozenset[int]
    ) -> Iterator[tuple[yaml.Node, yaml.Node]]:
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        own: list[tuple[yaml.Node, yaml.Node]] = []
        merging |= {id(node)}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                sources = (
                    value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                )
                for source in sources:
                    if id(source) in merging or id(source) in self._open:
                        self._error(source, (), "a merge key (<<) refers to its own mapping")
                    elif isinstance(source, yaml.MappingNode):
                        merged.extend(self._pairs(source, merging))
                    else:
                        self._error(source, (), "a merge key (<<) needs a mapping")
            else:
                own.append((key_node, value_node))
        own_keys = {k.value for k, _ in own if isinstance(k, yaml.ScalarNode)}
        seen: set[str] = set()
        for key_node, value_node in merged:
            if key_node.value in own_keys or key_node.value in seen:
                continue
            seen.add(key_node.value)
            yield key_node, value_node
        yield from own


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    return []


def _too_large(node: yaml.Node) -> yaml.Node | None:
    """The first node whose alias-expanded size passes :data:`MAX_NODES`, if any.

    Sizes are summed over the node graph with each shared (aliased) node
    counted once per use but visited once, so a "billion laughs" file is
    caught in time proportional to its text, before anything is built.
    Iterative, so deep nesting cannot exhaust the stack here.
    """
    sizes: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(node, False)]
    while stack:
        current, finished = stack.pop()
        key = id(current)
        if finished:
            open_.discard(key)
            sizes[key] = 1 + sum(sizes.get(id(c), 1) for c in _children(current))
            if sizes[key] > MAX_NODES:
                return current
        elif key not in sizes and key not in open_:  # open: a recursive alias, reported later
            open_.add(key)
            stack.append((current, True))
            stack.extend((child, False) for child in _children(current))
    return None


_STEPS = {"[": 1, "{": 1, "]": -1, "}": -1}


def _deepest(text: str) -> int:
    """The deepest the brackets of ``text`` nest, a closer never going below 0.

    The same count as :func:`_too_deep`'s loop, done in C: with S the running
    sum of +1/-1, the depth after each bracket is S minus the lowest S so far
    (each clamp at 0 forgets exactly the closers that went below it).  A file
    of many templates holds tens of thousands of brackets."""
    brackets = _NOT_BRACKETS.sub("", text)
    sums = list(itertools.accumulate(map(_STEPS.__getitem__, brackets), initial=0))
    deepest: int = max(map(operator.sub, sums, itertools.accumulate(sums, min)))
    return deepest


def _too_deep(text: str) -> tuple[int, int] | None:
    """``(line, col)`` where flow nesting passes :data:`MAX_DEPTH`, before composing.

    libyaml's composer recurses in C: ``[[[[...`` fifty thousand deep crashes
    the process.  Counting brackets is cheap and never undercounts; only when
    it says "deep" are the parser's events (which do not recurse) consulted.
    """
    if _deepest(text) <= MAX_DEPTH:
        return None
    depth = 0
    first_deep = -1
    for match in _BRACKETS.finditer(text):
        depth = depth + 1 if match.group() in "[{" else max(depth - 1, 0)
        if depth > MAX_DEPTH and first_deep < 0:
            first_deep = match.start()
    if first_deep < 0:
        return None
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                mark = event.start_mark
                if depth > MAX_DEPTH:
                    return (mark.line + 1, mark.column + 1) if mark else (1, 1)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        # PyYAML >= 6.0.4 stops very deep input itself, ahead of its events:
        # the bracket that first went too deep is then the honest place to point.
        before = text[:first_deep]
        return before.count("\n") + 1, first_deep - before.rfind("\n")
    return None


def _most_values(text: str) -> int:
    """An upper bound on the values ``text`` holds, from its indicators alone.

    Every value but a document's root follows an indicator of its own: a
    ``-`` (a block sequence item), ``[`` or ``,`` (a flow item), or a ``:``,
    ``{`` or ``?`` that brings a key and a value; a root starts a line.
    Counting characters is cheap, and when the bound is low enough the
    parser's events need not be counted at all.
    """
    pairs = sum(text.count(c) for c in ":[{,?")
    return 2 * pairs + text.count("-") + text.count("\n") + 1


def _few_events(text: str) -> bool:
    """True if the parser makes at most :data:`MAX_NODES` events of ``text``, so
    it holds no more values than that: libyaml counts them in C (``raw_parse``),
    a tenth of the time of handing each event to Python.  A syntax error, or no
    libyaml, says nothing: the values are then counted one by one."""
    raw_parse = getattr(_Loader(text), "raw_parse", None)
    if raw_parse is None:  # pragma: no cover - PyYAML without libyaml
        return False
    try:
        events: int = raw_parse()
    except yaml.YAMLError:
        return False
    return events <= MAX_NODES


def _too_many(text: str) -> tuple[int, int] | None:
    """``(line, col)`` of the value past :data:`MAX_NODES`, counted on the
    parser's events (which hold nothing) before any node is composed."""
    count = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.ScalarEvent | yaml.CollectionStartEvent | yaml.AliasEvent):
            count += 1
            if count > MAX_NODES:
                mark = event.start_mark
                return (mark.line + 1, mark.column + 1) if mark else (1, 1)
    return None


def load_documents(text: str, file: str) -> list[Document]:
    """Parse every document of ``text``; raise :class:`UserError` with all problems."""
    try:
        deep = _too_deep(text)
        if deep is not None:
            message = f"nested more than {MAX_DEPTH} levels deep"
            raise UserError([Diagnostic(file, *deep, message)])
        crowded = _most_values(text) > MAX_NODES and not _few_events(text)
        many = _too_many(text) if crowded else None
        if many is not None:
            message = f"holds more than {MAX_NODES:,} values (the limit for one file)"
            raise UserError([Diagnostic(file, *many, message)])
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        problem = exc.problem or exc.context or "invalid YAML"
        raise UserError([Diagnostic(file, line, col, f"invalid YAML: {problem}")]) from None
    except yaml.reader.ReaderError as exc:  # a control character: carries a position, no mark
        before = text[: exc.position]
        line, col = before.count("\n") + 1, exc.position - before.rfind("\n")
        char = chr(exc.character) if isinstance(exc.character, int) else repr(exc.character)
        message = f"invalid YAML: character {char!r} is not allowed ({exc.reason})"
        raise UserError([Diagnostic(file, line, col, message)]) from None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError([Diagnostic(file, 1, 1, f"invalid YAML: {first}")]) from None
    docs: list[Document] = []
    errors: list[Diagnostic] = []
    lines = text.split("\n")
    # Without an anchor (&name) nothing is shared, so no document outgrows its text.
    anchored = "&" in text
    for index, node in enumerate(nodes):
        bomb = _too_large(node) if anchored else None
        if bomb is not None:
            line, col = bomb.start_mark.line + 1, bomb.start_mark.column + 1
            message = f"expands to more than {MAX_NODES:,} values (alias bomb?)"
            raise UserError([Diagnostic(file, line, col, message)])
        builder = _Builder(file, lines)
        data = builder.build(node, ())
        errors.extend(builder.errors)
        docs.append(Document(data, builder.marks, index))
    if errors:
        raise UserError(errors)
    return docs
