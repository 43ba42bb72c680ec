"""Reading YAML with marks: the value limit is checked without slowing a
large valid file."""

from __future__ import annotations

from typing import Any

import pytest

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
