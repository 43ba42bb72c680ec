"""The compiled schema check (jsonschema-rs) that passes valid documents
agrees with the pure-Python one that words the errors."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from deployctl.errors import UserError
from deployctl.manifest import LoadOptions, schema
from deployctl.manifest.load import load_text
from deployctl.manifest.yamlload import load_documents
from deployctl.testing.cli import imported_modules
from deployctl.testing.golden import case_names, run_case

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


SERVICE = """\
apiVersion: deployctl/v1
kind: Deployment
metadata: {project: svc-0001, environment: "{{ stage }}"}
vars: {stage: prod, first: 5, strict: "0.02", auto: "false", style: canary}
target:
  lambda: {function: "svc-0001-{{ stage }}", alias: live}
strategy:
  type: "{{ style }}"
  stages:
    - {traffic: "{{ first }}", duration: 5m, metric_threshold: "{{ strict }}"}
    - {traffic: 100, duration: stable}
rollback: {triggers: "ErrorRate>5%", automatic: "{{ auto }}"}
"""


def _no_python_check(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> Any:
        raise AssertionError("the pure-Python validator ran")

    monkeypatch.setattr(schema, "_kind_validators", refuse)
    monkeypatch.setattr(schema, "_validator", refuse)


def test_a_valid_templated_document_passes_the_compiled_check_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _no_python_check(monkeypatch)
    [doc] = load_text(SERVICE, "plan.yaml", LoadOptions(environ={}))
    [first, _] = doc.strategy.stages
    assert (first.traffic, first.metric_threshold) == (5, 0.02)
    assert isinstance(first.traffic, int) and doc.rollback.automatic is False


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        (("strategy", "stages", 3, "traffic"), ("integer",)),
        (("strategy", "stages", 0, "metric_threshold"), ("number",)),
        (("rollback", "automatic"), ("boolean",)),
        (("strategy", "type"), None),  # an enum of strings: a string already
        (("rollback", "triggers"), None),  # a string or a list: a string may stand
        (("vars", "first"), None),  # anything goes
        (("strategy", "nonsense"), None),  # no such field
        (("strategy", "stages", "x", "traffic"), None),  # not where a list is
    ],
)
def test_the_type_wanted_at_a_place_is_read_from_the_kind_schema(
    path: tuple[Any, ...], wanted: tuple[str, ...] | None
) -> None:
    assert schema._wanted("Deployment", path) == wanted


TOY = {
    "type": "object",
    "properties": {
        "whole": {"allOf": [{"type": "integer"}, {"minimum": 0}]},
        "mixed": {"allOf": [{"type": "integer"}, {"type": "number"}]},
        "maybe": {"anyOf": [{"type": "integer"}, {}]},
        "either": {"oneOf": [{"properties": {"n": {"type": "integer"}}}, {"required": ["m"]}]},
        "when": {"if": {"required": ["a"]}, "then": {"properties": {"n": {"type": "integer"}}}},
        "list": {"items": {"type": "boolean"}},
        "map": {"additionalProperties": {"type": ["number", "null"]}},
    },
}


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        (("whole",), ("integer",)),  # allOf always applies
        (("mixed",), None),  # two answers: the old path decides
        (("maybe",), None),  # a string passes the empty branch, so never an error
        (("either", "n"), None),  # a oneOf branch may not apply
        (("when", "n"), None),  # nor may a then
        (("list", 3), ("boolean",)),
        (("map", "anything"), ("number", "null")),
    ],
)
def test_only_a_type_the_validator_always_checks_is_wanted(
    path: tuple[Any, ...], wanted: tuple[str, ...] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schema, "_kind_schemas", lambda: {"Toy": TOY})
    schema._wanted.cache_clear()
    try:
        assert schema._wanted("Toy", path) == wanted
    finally:
        schema._wanted.cache_clear()


def test_a_bad_templated_value_is_still_worded_by_the_python_check() -> None:
    text = SERVICE.replace("first: 5", "first: ten")
    with pytest.raises(UserError) as caught:
        load_text(text, "plan.yaml", LoadOptions(environ={}))
    assert [d.render() for d in caught.value.diagnostics] == [
        "plan.yaml:10:17: error: strategy.stages[0].traffic: '{{ first }}' rendered to 'ten', "
        "expected a whole number"
    ]


@pytest.mark.parametrize("name", case_names(ROOT / "tests" / "cases"))
def test_converting_before_the_first_check_decides_each_case_as_converting_after_it(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = ROOT / "tests" / "cases" / name
    early = run_case(folder)
    monkeypatch.setattr(schema, "_convert_templated", lambda data, templates: None)
    assert run_case(folder) == early


def test_validating_a_valid_templated_plan_never_imports_the_python_validator(
    tmp_path: Path,
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(SERVICE, encoding="utf-8")
    modules = imported_modules("validate", str(plan))
    assert "jsonschema_rs" in modules and "jsonschema" not in modules
