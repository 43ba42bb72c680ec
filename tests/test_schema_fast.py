"""The compiled schema check (jsonschema-rs) that passes valid documents
agrees with the pure-Python one that words the errors."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from deployctl.manifest import schema
from deployctl.manifest.yamlload import load_documents

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted([*ROOT.glob("plans/*.yaml"), *ROOT.glob("tests/cases/*/plan.yaml")])


def slow_verdict(data: Any) -> bool:
    kind = data.get("kind") if isinstance(data, dict) else None
    checker = (isinstance(kind, str) and schema._kind_validators().get(kind)) or schema._validator()
    return not any(True for _ in checker.iter_errors(data))


def test_both_checks_give_every_document_of_the_examples_and_cases_the_same_verdict() -> None:
    verdicts = {True: 0, False: 0}
    for path in FILES:
        for doc in load_documents(path.read_text(encoding="utf-8"), str(path)):
            variants = [doc.data]
            if path.parent.name == "plans":  # and each top-level field given a wrong value
                for key in doc.data:
                    for wrong in (7, "x", [None]):
                        variant = copy.copy(doc.data)
                        variant[key] = wrong
                        variants.append(variant)
            for data in variants:
                slow = slow_verdict(data)
                assert schema._valid(data, data.get("kind")) == slow, f"{path}#{doc.index}"
                verdicts[slow] += 1
    assert verdicts[True] > 30 and verdicts[False] > 100  # both verdicts were compared


def test_a_value_the_compiled_check_cannot_take_is_judged_by_the_python_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Refuses:
        def is_valid(self, data: Any) -> bool:
            raise ValueError("Unsupported type: 'object'")

    monkeypatch.setattr(schema, "_fast_validators", lambda: {None: Refuses()})
    path = ROOT / "plans" / "fraud-or-not.yaml"
    doc = load_documents(path.read_text(encoding="utf-8"), str(path))[0]
    assert schema.validate(doc.data, doc.marks) == []
    doc.data["strategy"] = 7
    (problem,) = schema.validate(doc.data, doc.marks)
    assert problem.path == ("strategy",) and "expected a mapping, got 7" in problem.message
