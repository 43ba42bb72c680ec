"""The Step Functions test harness (deployctl.testing.stepfunctions): a
definition is parsed once per folder and every parse hands out its own
program, as moto's parse does; a stopped test's parked execution is not
waited for by the next."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from deployctl.testing import stepfunctions

DEFINITION = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})


def counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    parsed: list[str] = []
    real = stepfunctions._program

    def program(definition: str) -> Any:
        parsed.append(definition)
        return real(definition)

    monkeypatch.setattr(stepfunctions, "_program", program)
    return parsed


def test_a_definition_is_parsed_once_for_every_process_sharing_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed = counting(monkeypatch)
    first, _ = stepfunctions._Programs(tmp_path).parse(DEFINITION)
    again, _ = stepfunctions._Programs(tmp_path).parse(DEFINITION)  # another worker
    assert parsed == [DEFINITION]
    assert type(again) is type(first)
    assert again is not first  # an execution mutates its program: each gets its own
    assert list(tmp_path.iterdir()) == [tmp_path / stepfunctions._key(DEFINITION)]


def test_without_a_folder_each_process_parses_once(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = counting(monkeypatch)
    programs = stepfunctions._Programs(None)
    one, _ = programs.parse(DEFINITION)
    two, _ = programs.parse(DEFINITION)
    assert parsed == [DEFINITION]
    assert one is not two


def test_a_bad_definition_is_refused_as_moto_refuses_it(tmp_path: Path) -> None:
    errors: Any = stepfunctions._moto("parse.asl_parser").ASLParserException
    with pytest.raises(errors):
        stepfunctions._Programs(tmp_path).parse('{"StartAt": "A", "States": {}, "Bad": 1}')
    assert list(tmp_path.iterdir()) == []


def test_an_abandoned_execution_is_not_waited_for() -> None:
    """A parked execution a finished test stopped (moto keeps its thread
    waiting for the token) must not hold up the next test's waits."""
    release = threading.Event()

    def _execution_logic() -> None:  # the name moto's execution threads run
        release.wait()

    parked = threading.Thread(target=_execution_logic, daemon=True)
    parked.start()
    try:
        assert stepfunctions._is_execution(parked)
        with pytest.raises(AssertionError, match="did not end"):
            stepfunctions.wait_for_executions(timeout=0.01)
        stepfunctions.abandon_executions()
        stepfunctions.wait_for_executions(timeout=0.01)  # returns: nothing to wait for
    finally:
        release.set()
        parked.join()
