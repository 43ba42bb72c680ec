"""Reading YAML with marks: the value limit is checked without slowing a
large valid file."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deployctl.errors import UserError
from deployctl.manifest import yamlload
from deployctl.manifest.yamlload import load_documents


def _no_python_count(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    counted: list[str] = []

    def count(text: str) -> Any:
        counted.append(text)
        return None

    monkeypatch.setattr(yamlload, "_too_many", count)
    return counted


def test_a_file_whose_indicators_overstate_its_values_is_not_counted_event_by_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Quoted text full of ":", "{" and "," looks like many values to the
    # character count; the parser's own count (in C) says otherwise.
    monkeypatch.setattr(yamlload, "MAX_NODES", 1_000)
    text = "".join(f'k{n}: "{{{{ a }}}}: {{{{ b }}}}, c, d, e: f"\n' for n in range(100))
    assert yamlload._most_values(text) > 1_000
    counted = _no_python_count(monkeypatch)
    [doc] = load_documents(text, "plan.yaml")
    assert doc.data["k99"] == "{{ a }}: {{ b }}, c, d, e: f" and counted == []


def test_more_events_than_the_limit_but_fewer_values_is_counted_and_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(yamlload, "MAX_NODES", 1_000)
    # Each empty list is one value and two events (its start and its end).
    text = "[" + "[]," * 600 + "]\n"
    counted: list[str] = []
    count = yamlload._too_many

    def spy(text: str) -> Any:
        counted.append(text)
        return count(text)

    monkeypatch.setattr(yamlload, "_too_many", spy)
    [doc] = load_documents(text, "plan.yaml")
    assert len(doc.data) == 600 and counted == [text]


def test_a_file_past_the_value_limit_is_refused_at_the_value_past_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(yamlload, "MAX_NODES", 1_000)
    text = "[" + "1," * 1_005 + "]\n"
    with pytest.raises(UserError) as caught:
        load_documents(text, "plan.yaml")
    [problem] = caught.value.diagnostics
    assert (problem.line, problem.col) == (1, 2 * 1_000)
    assert "holds more than 1,000 values" in problem.message


def test_scalars_take_their_yaml_types_however_often_the_same_text_recurs() -> None:
    # Tags are resolved once per text: a quoted "5" after a plain 5 stays text.
    text = "a: [5, '5', \"5\", 5, yes, 'yes', ~, null, '', 1.5, '1.5', 2024-01-20, 0x1f]\n"
    first, again = load_documents(text + "---\n" + text, "plan.yaml")
    assert first.data == again.data
    assert first.data["a"] == [
        5,
        "5",
        "5",
        5,
        True,
        "yes",
        None,
        None,
        "",
        1.5,
        "1.5",
        "2024-01-20",
        31,
    ]


def test_merge_keys_are_expanded_and_the_mapping_s_own_keys_win() -> None:
    text = "base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n"
    [doc] = load_documents(text, "plan.yaml")
    assert doc.data["use"] == {"x": 1, "y": 3}
    assert doc.marks.values[("use", "y")] == (4, 6)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("n: !!int five\n", "bad int value 'five'"),
        ("b: !!bool maybe\n", "bad bool value 'maybe'"),
        ("f: !!float .nan\n", "'.nan' is not a finite number"),
    ],
)
def test_a_scalar_its_tag_cannot_build_is_a_located_error(text: str, message: str) -> None:
    with pytest.raises(UserError) as caught:
        load_documents(text, "plan.yaml")
    [problem] = caught.value.diagnostics
    assert (problem.line, problem.col, problem.message) == (1, 4, message)


def _clamped_depth(text: str) -> int:
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth = max(depth - 1, 0)
        deepest = max(deepest, depth)
    return deepest


@given(st.text(alphabet="[]{}a\n", max_size=80))
def test_the_bracket_depth_counted_in_c_is_the_clamped_walk(text: str) -> None:
    assert yamlload._deepest(text) == _clamped_depth(text)


def test_flow_nesting_past_the_limit_is_refused_where_it_passes_it() -> None:
    text = "a: " + "[" * 70 + "]" * 70 + "\nb: " + "{x: " * 3 + "1" + "}" * 3 + "\n"
    with pytest.raises(UserError) as caught:
        load_documents(text, "plan.yaml")
    [problem] = caught.value.diagnostics
    # the document's own mapping is the first level: the 64th bracket passes the limit
    assert (problem.line, problem.col) == (1, 3 + 64)
    assert "nested more than 64 levels deep" in problem.message


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("a: 1\na: 2\n", (2, 1), "duplicate key 'a'"),
        ("? [x]\n: 1\n", (1, 3), "mapping keys must be plain strings"),
        ("2024-01-20: 1\n", (1, 1), "mapping keys must be plain strings"),
        ("a: !!python/name:os.system x\n", (1, 4), "unsupported YAML tag"),
    ],
)
def test_keys_and_tags_a_plan_cannot_use_are_located_errors(
    text: str, where: tuple[int, int], message: str
) -> None:
    with pytest.raises(UserError) as caught:
        load_documents(text, "plan.yaml")
    [problem] = caught.value.diagnostics
    assert (problem.line, problem.col) == where and message in problem.message


def test_marks_say_where_each_key_and_value_is_and_how_it_was_written() -> None:
    [doc] = load_documents('a:\n  b: "x"\n  c: [1, y]\n', "plan.yaml")
    marks = doc.marks
    assert marks.keys[("a", "b")] == (2, 3) and marks.values[("a", "b")] == (2, 6)
    assert marks.values[("a", "c", 1)] == (3, 10)
    assert ("a", "b") in marks.quoted and ("a", "c", 1) not in marks.quoted
    assert {("a", "b"), ("a", "c", 1)} <= marks.verbatim
