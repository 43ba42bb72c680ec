"""Bad input never crashes ``deployctl validate``: it exits 1 and names file:line:col.

The example plans in ``plans/`` (listed when the tests run) are mutated at the
data level (load, change one value, dump) and at the text level (truncate,
re-indent, unbalance brackets, insert characters).  Some mutations leave a
valid plan, so the contract is: exit 0 with a clean "ok", or exit 1 where
every stderr line is one located error, and never a traceback or an internal
error.  Targeted tests pin the sandbox (Jinja cannot reach Python internals,
YAML tags cannot build objects), resource limits and the semantic checks'
columns; property tests cover the duration and trigger parsers.
"""

from __future__ import annotations

import copy
import math
import os
import re
import shutil
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from deployctl.cli import main
from deployctl.diagnostics import Marks
from deployctl.manifest import render
from deployctl.manifest.durations import (
    MAX_SECONDS,
    DurationError,
    format_duration,
    parse_duration,
)
from deployctl.manifest.triggers import TriggerError, parse_triggers

ROOT = Path(__file__).resolve().parents[1]
PLANS = ROOT / "plans"
LOCATED = re.compile(r"^deployctl: (?P<file>.+):(?P<line>\d+):(?P<col>\d+): error: ")

# How many examples each property test tries, times this: 1 in the suite
# (sized so the file costs ~20 CPU-s), more for a deep run by hand:
# DEPLOYCTL_FUZZ_SCALE=10 python -m pytest tests/test_fuzz_validate.py
SCALE = float(os.environ.get("DEPLOYCTL_FUZZ_SCALE", "1"))


def examples(count: int) -> int:
    return max(1, round(count * SCALE))


# The autouse fixtures (no network, fake AWS credentials) and capsys are
# function-scoped on purpose: they guard the environment, not per-example state.
FUZZ = settings(
    max_examples=examples(80),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def example_plans() -> list[Path]:
    plans = sorted(PLANS.glob("*.yaml"))
    assert plans, "plans/ holds no example plan"
    return plans


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of plans/ (templates and sibling plans included), so a mutated
    pipeline still finds the plan it points at."""
    root = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(PLANS, root / "plans")
    return root / "plans"


def validate(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["validate", str(path), "--state-dir", str(path.parent / ".state")])
    out, err = capsys.readouterr()
    return code, out, err


def errors_of(err: str) -> list[re.Match[str]]:
    """Every stderr line as a located error; fails on any line that is not one."""
    lines = err.splitlines()
    assert lines, "exit 1 with nothing on stderr"
    found = []
    for line in lines:
        match = LOCATED.match(line)
        assert match, f"error line without file:line:col: {line!r}"
        found.append(match)
    return found


def assert_clean(code: int, out: str, err: str, path: Path) -> None:
    assert "Traceback" not in out + err
    assert "internal error" not in err, err
    assert code in (0, 1), (code, err)
    if code == 0:
        assert err == ""
        assert out.startswith(f"{path}: ok")
        return
    for match in errors_of(err):
        # A pipeline's error may sit in the plan it runs, rendered with its vars.
        assert match["file"] == str(path) or Path(match["file"]).parent == path.parent
        assert int(match["line"]) >= 1
        assert int(match["col"]) >= 1


def write(workdir: Path, name: str, text: str) -> Path:
    path = workdir / f"mutant-{name}"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_example_plan_validates(capsys: pytest.CaptureFixture[str]) -> None:
    for plan in example_plans():
        code, out, err = validate(plan, capsys)
        assert (code, err) == (0, ""), plan
        assert out.startswith(f"{plan}: ok")


# --- data-level mutations ------------------------------------------------------


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*path, index))


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for item in path:
        data = data[item]
    return data


WRONG_TYPES = [None, 0, -1, 1.5, "", "x", True, [], {}, [1, "a"], {"a": 1}]
OUT_OF_RANGE = [-1, -100, 101, 1000, 10**9, -(10**12), 0.0001, 1e300]
BAD_DURATIONS = ["10", "10x", "1h1h", "-5m", "m", "1.5.5s", "stable ", "30 s", "1e3s", "0x10s", "∞"]
BAD_TRIGGERS = [
    "ErrorRate>>5%",
    "ErrorRate>5%,",
    ",ErrorRate>5%",
    "ErrorRate=5%",
    "ErrorRate>5%%",
    "Nope>1",
    ">5%",
    "ErrorRate>",
    "ErrorRate 5",
    "ErrorRate>5%,Latency>>1000ms",
    "ErrorRate>five",
]
BAD_JINJA = [
    "{{ x",
    "{{ nope }}",
    "{% if %}",
    "{{ ''.__class__ }}",
    "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "{{ env('DEPLOYCTL_SURELY_UNSET_123') }}",
    "{{ 1/0 }}",
    "{{ vars.nope.deeper }}",
    "{{ 'a' * 10**9 }}",
    "}} {{",
    "${nope}",
]


@st.composite
def data_mutation(draw: st.DrawFn) -> tuple[str, str]:
    plan = draw(st.sampled_from(example_plans()))
    docs = [d for d in yaml.safe_load_all(plan.read_text(encoding="utf-8")) if d is not None]
    index = draw(st.integers(0, len(docs) - 1))
    doc = copy.deepcopy(docs[index])
    path = draw(st.sampled_from([p for p in _paths(doc) if p]))
    parent, key = _get(doc, path[:-1]), path[-1]
    current = parent[key]
    how = draw(
        st.sampled_from(
            ["delete", "wrong-type", "range", "duration", "trigger", "jinja", "unknown", "dup"]
        )
    )
    if how == "delete":
        del parent[key]
    elif how == "wrong-type":
        parent[key] = draw(st.sampled_from(WRONG_TYPES))
    elif how == "range":
        parent[key] = draw(st.sampled_from(OUT_OF_RANGE))
    elif how == "duration":
        parent[key] = draw(st.sampled_from(BAD_DURATIONS))
    elif how == "trigger":
        doc.setdefault("rollback", {})["triggers"] = draw(st.sampled_from(BAD_TRIGGERS))
    elif how == "jinja":
        parent[key] = draw(st.sampled_from(BAD_JINJA))
    elif how == "unknown":
        target = current if isinstance(current, dict) else parent
        if isinstance(target, dict):
            target[draw(st.sampled_from(["bogus", "stagez", "Traffic", "x-y"]))] = 1
        else:
            target.append({"bogus": 1})
    elif isinstance(parent, list):
        parent.insert(key, copy.deepcopy(current))
    else:
        parent[key] = [current, current]
    docs[index] = doc
    return plan.name, yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True)


@FUZZ
@given(data_mutation())
def test_data_mutations_exit_cleanly_with_located_errors(
    workdir: Path, capsys: pytest.CaptureFixture[str], mutant: tuple[str, str]
) -> None:
    name, text = mutant
    path = write(workdir, name, text)
    assert_clean(*validate(path, capsys), path)


# --- templated fields -------------------------------------------------------------


def _scalar_paths(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Paths of the scalars a var could drive: not vars themselves, nor text
    that already holds a template (a var cannot use another var)."""
    out = []
    for path in _paths(doc):
        if not path or path[0] in ("vars", "apiVersion", "kind", "plan"):
            continue
        value = _get(doc, path)
        if isinstance(value, str) and ("{{" in value or "{%" in value or not value):
            continue
        if isinstance(value, bool | int | float | str):
            out.append(path)
    return out


@st.composite
def templated(draw: st.DrawFn) -> tuple[str, str, bool]:
    """An example plan with one scalar replaced by ``"{{ fuzzed }}"``; the var
    holds the value itself (the plan must stay valid) or something else."""
    plan = draw(st.sampled_from(example_plans()))
    docs = [d for d in yaml.safe_load_all(plan.read_text(encoding="utf-8")) if d is not None]
    index = draw(st.integers(0, len(docs) - 1))
    doc = copy.deepcopy(docs[index])
    paths = _scalar_paths(doc)
    if not paths:
        return plan.name, plan.read_text(encoding="utf-8"), True
    path = draw(st.sampled_from(paths))
    parent, key = _get(doc, path[:-1]), path[-1]
    same = draw(st.booleans())
    value = (
        parent[key]
        if same
        else draw(st.one_of(st.sampled_from(WRONG_TYPES + OUT_OF_RANGE), st.text(max_size=20)))
    )
    if isinstance(value, bool):
        value = draw(st.sampled_from([str(value), str(value).lower()]))
    # Spaces around a template stay part of a string (they convert for a number).
    forms = ["{{ fuzzed }}", "{{ vars.fuzzed }}"] + ([] if same else [" {{ fuzzed }} "])
    parent[key] = draw(st.sampled_from(forms))
    if not isinstance(doc.get("vars"), dict):
        doc["vars"] = {}
    doc["vars"]["fuzzed"] = value
    docs[index] = doc
    return plan.name, yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True), same


@settings(FUZZ, max_examples=examples(50))
@given(templated())
def test_a_var_may_drive_any_scalar_and_a_bad_one_is_a_located_error(
    workdir: Path, capsys: pytest.CaptureFixture[str], mutant: tuple[str, str, bool]
) -> None:
    name, text, same = mutant
    path = write(workdir, name, text)
    code, out, err = validate(path, capsys)
    assert_clean(code, out, err, path)
    if same:  # a var holding the value written there changes nothing
        assert code == 0, err


# --- text-level mutations ------------------------------------------------------


@st.composite
def text_mutation(draw: st.DrawFn) -> tuple[str, str]:
    plan = draw(st.sampled_from(example_plans()))
    text = plan.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    at = draw(st.integers(0, len(text)))
    row = draw(st.integers(0, len(lines) - 1))
    how = draw(
        st.sampled_from(["truncate", "drop-line", "indent", "dedent", "bracket", "insert", "dup"])
    )
    if how == "truncate":
        text = text[:at]
    elif how == "drop-line":
        text = "".join(lines[:row] + lines[row + 1 :])
    elif how == "indent":
        lines[row] = " " * draw(st.integers(1, 5)) + lines[row]
        text = "".join(lines)
    elif how == "dedent":
        lines[row] = lines[row].lstrip(" ")
        text = "".join(lines)
    elif how == "bracket":
        text = text[:at] + draw(st.sampled_from(list("[]{}\"'&*!|>%@`\t"))) + text[at:]
    elif how == "insert":
        text = text[:at] + draw(st.text(max_size=12)) + text[at:]
    else:
        text = "".join(lines[: row + 1] + lines[row:])
    return plan.name, text


@FUZZ
@given(text_mutation())
def test_text_mutations_exit_cleanly_with_located_errors(
    workdir: Path, capsys: pytest.CaptureFixture[str], mutant: tuple[str, str]
) -> None:
    name, text = mutant
    path = write(workdir, name, text)
    assert_clean(*validate(path, capsys), path)


# --- as a real process -----------------------------------------------------------

FRAUD = (PLANS / "fraud-or-not.yaml").read_text(encoding="utf-8")
SEED_TRIGGERS = '"ErrorRate>5%,Latency>1000ms"'
assert SEED_TRIGGERS in FRAUD


@pytest.mark.parametrize(
    "text",
    [
        FRAUD.replace(SEED_TRIGGERS, '"ErrorRate>5%,Latency>>1000ms"'),
        FRAUD.replace('"2024.01.20"', "\"{{ ''.__class__.__mro__ }}\""),
        FRAUD[: len(FRAUD) // 2] + "  [unbalanced: {\n",
        FRAUD.replace("keep_versions: 5", "keep_versions: !!python/object/apply:os.getpid []"),
        "\x00",
    ],
    ids=["trigger", "jinja", "yaml", "tag", "nul"],
)
def test_validate_as_a_process_exits_1_with_located_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "deployctl", "validate", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / ".deployctl").exists(), "an internal error wrote a crash log"
    for match in errors_of(done.stderr):
        assert match["file"] == str(path)


# --- targeted: the sandbox -------------------------------------------------------


def _position(text: str, needle: str, shift: int = 0) -> tuple[int, int]:
    """1-based (line, col) of ``needle`` in ``text``, moved ``shift`` characters right."""
    index = text.index(needle) + shift
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _one_error(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> re.Match[str]:
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    code, out, err = validate(path, capsys)
    assert code == 1, out
    found = errors_of(err)
    assert len(found) == 1, err
    return found[0]


def _at(match: re.Match[str]) -> tuple[int, int]:
    return int(match["line"]), int(match["col"])


@pytest.mark.parametrize(
    "expression",
    [
        "''.__class__",
        "().__class__.__bases__[0].__subclasses__()",
        "version.__class__.__init__.__globals__",
        "env.__globals__",
        "cycler.__init__.__globals__.os",
    ],
)
def test_jinja_cannot_reach_python_internals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], expression: str
) -> None:
    value = '"{{ ' + expression + ' }}"'
    text = FRAUD.replace('"2024.01.20"', value)
    match = _one_error(tmp_path, text, capsys)
    assert _at(match) == _position(text, value)
    line = match.string
    assert "template error" in line
    assert "<class" not in line
    assert "subclasses" not in line.split("error:", 1)[1].replace(expression, "")


def test_jinja_resource_bombs_are_refused_quickly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for expression in [
        "'a' * 10**10",
        "2**99999999",
        "'x'|center(10**9)",
        "'%.999999999d' % 1",
        "'{:>{w}}'.format(1, w=10**9)",
    ]:
        value = '"{{ ' + expression + ' }}"'
        text = FRAUD.replace('"2024.01.20"', value)
        # The guard refuses before computing (a timing assertion would only
        # make the test flaky on a loaded machine): the message proves it.
        match = _one_error(tmp_path, text, capsys)
        assert _at(match) == _position(text, value)
        assert "not allowed" in match.string


@pytest.mark.parametrize(
    "template",
    [
        "{% for a in s %}{% for b in s %}x{% endfor %}{% endfor %}",
        "{% for a in s %}{% for b in s if b == 'y' %}x{% endfor %}{% endfor %}",
        "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(60) }}",
        "{% for a in s %}{{ s|map('upper')|join }}{% endfor %}",
    ],
)
def test_a_template_that_never_ends_is_a_located_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    template: str,
) -> None:
    # No budget at all: the second clock check, 2,048 ticks in, is already late.
    monkeypatch.setattr(render, "RENDER_SECONDS", 0.0)
    value = "\"{% set s = 'x' * 100000 %}" + template + '"'
    text = FRAUD.replace('"2024.01.20"', value)
    match = _one_error(tmp_path, text, capsys)
    assert _at(match) == _position(text, value)
    assert match.string.endswith(
        "template error: rendering took more than 0 s of CPU (a loop or recursion without bound?)"
    )


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.system",
        "!!python/object/new:os.system",
        "!!python/object/apply:subprocess.check_call",
        "!<tag:yaml.org,2002:python/object/apply:os.system>",
    ],
)
def test_yaml_tags_cannot_build_objects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tag: str
) -> None:
    marker = tmp_path / "ran"
    value = f'{tag} ["touch {marker}"]'
    text = FRAUD.replace("keep_versions: 5", f"keep_versions: {value}")
    match = _one_error(tmp_path, text, capsys)
    assert _at(match) == _position(text, value)
    assert "unsupported YAML tag" in match.string
    assert not marker.exists()


def test_python_name_tag_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = FRAUD.replace("keep_versions: 5", "keep_versions: !!python/name:os.system")
    match = _one_error(tmp_path, text, capsys)
    assert "unsupported YAML tag" in match.string


def test_alias_bomb_fails_fast_at_the_bomb(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    match = _one_error(tmp_path, "\n".join(lines) + "\n", capsys)
    assert "alias bomb" in match.string
    # About 9**6 values pass 150,000 first at a5 (line 6), the list after the anchor.
    assert _at(match) == (6, 5)


@pytest.mark.parametrize(
    "text",
    ["x: &a [*a]\n", "x: &a {b: *a}\n", "x: &a {<<: *a}\n", "x: &a [{<<: *a}]\n"],
)
def test_recursive_aliases_are_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    match = _one_error(tmp_path, text, capsys)
    assert "refers to" in match.string


def test_deep_nesting_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("x: " + "[" * 60_000 + "]" * 60_000 + "\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "deployctl", "validate", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "nested more than" in errors_of(done.stderr)[0].string


def test_duplicate_keys_are_errors_at_the_second_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = FRAUD.replace("  alias: live\n", "  alias: live\n    alias: other\n")
    match = _one_error(tmp_path, text, capsys)
    assert "duplicate key 'alias'" in match.string
    assert _at(match) == _position(text, "alias: other")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("keep_versions: 5", "keep_versions: !!int five", "bad int value"),
        ("metric_threshold: 0.01", "metric_threshold: .nan", "not a finite number"),
        ("metric_threshold: 0.01", "metric_threshold: .inf", "not a finite number"),
        (
            'monitoring_time: "{{ monitor }}"',
            "monitoring_time: " + "9" * 400 + "d",
            "longer than a year",
        ),
    ],
)
def test_values_that_used_to_crash_are_located_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, message: str
) -> None:
    text = FRAUD.replace(old, new, 1)
    match = _one_error(tmp_path, text, capsys)
    assert message in match.string
    assert _at(match) == _position(text, new, len(new.split(": ", 1)[0]) + 2)


@pytest.mark.parametrize(
    ("plan", "old", "new", "value"),
    [
        # Found by test_a_var_may_drive_any_scalar...: an empty name passed
        # validation, then failed an assertion in the ECS planner.
        ("media-register-ecs-services", "blue: media-register-blue", "blue: ''", "''"),
        ("media-register-ecs-services", "green: media-register-green", "green: ''", "''"),
        ("media-register-ecs", "service: media-register ", "service: '' ", "''"),
        ("media-register-ecs", "cluster: media-register", "cluster: ''", "''"),
    ],
)
def test_an_empty_ecs_name_is_a_located_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    plan: str,
    old: str,
    new: str,
    value: str,
) -> None:
    text = (PLANS / f"{plan}.yaml").read_text(encoding="utf-8")
    assert old in text
    text = text.replace(old, new, 1)
    match = _one_error(tmp_path, text, capsys)
    assert "should be non-empty" in match.string
    assert _at(match) == _position(text, new, new.index(value))


def test_control_characters_and_bad_utf8_are_located(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = FRAUD.replace("alias: live", "alias: li\x01ve")
    match = _one_error(tmp_path, text, capsys)
    assert _at(match) == _position(text, "\x01")
    path = tmp_path / "plan.yaml"
    path.write_bytes(
        FRAUD.replace("alias: live", "alias: li\udcffve").encode("utf-8", "surrogateescape")
    )
    code, _, err = validate(path, capsys)
    assert code == 1
    (found,) = errors_of(err)
    assert _at(found) == _position(FRAUD, "alias: live", len("alias: li"))


@pytest.mark.parametrize("text", ["---\n", "null\n", "# nothing\n", "---\n---\n"])
def test_a_file_without_a_plan_is_a_located_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    match = _one_error(tmp_path, text, capsys)
    assert _at(match) == (1, 1)


# --- targeted: semantic checks point at the mistake ------------------------------


def test_seed_trigger_error_points_at_the_second_greater_than(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for written in [
        '"ErrorRate>5%,Latency>>1000ms"',
        "'ErrorRate>5%,Latency>>1000ms'",
        "ErrorRate>5%,Latency>>1000ms",
        '[ErrorRate>5%, "Latency>>1000ms"]',
    ]:
        text = FRAUD.replace(SEED_TRIGGERS, written)
        match = _one_error(tmp_path, text, capsys)
        assert "expected a number" in match.string
        assert _at(match) == _position(text, ">>", 1), written


def test_unknown_trigger_metric_points_at_its_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = FRAUD.replace(SEED_TRIGGERS, '"ErrorRate>5%, Latencyy>1000ms"')
    match = _one_error(tmp_path, text, capsys)
    assert "unknown metric 'Latencyy'" in match.string
    assert _at(match) == _position(text, "Latencyy")


def test_a_rendered_trigger_points_at_the_value_not_a_shifted_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    written = "\"{{ 'ErrorRate' }}>5%,Latency>>1000ms\""
    text = FRAUD.replace(SEED_TRIGGERS, written)
    match = _one_error(tmp_path, text, capsys)
    assert _at(match) == _position(text, written)


STAGES = """\
    - {traffic: 10,  duration: "{{ stage1 }}", metric_threshold: 0.01}
    - {traffic: 25,  duration: "{{ stage2 }}", metric_threshold: 0.05}
    - {traffic: 50,  duration: "{{ stage3 }}", metric_threshold: 0.05}
    - {traffic: 100, duration: stable,         metric_threshold: 0.05}
"""
assert STAGES in FRAUD


@pytest.mark.parametrize(
    ("stages", "needle", "message"),
    [
        (
            STAGES.replace("traffic: 50,", "traffic: 20,"),
            "20,",
            "must rise strictly (20 after 25)",
        ),
        (
            STAGES.replace("traffic: 100,", "traffic: 90, "),
            "90,  duration: stable",
            "must send 100%",
        ),
        (
            STAGES.replace('"{{ stage2 }}"', "stable        "),
            "stable        ",
            "'stable' is only allowed",
        ),
    ],
    ids=["not-ascending", "not-100", "stable-not-last"],
)
def test_canary_stage_mistakes_point_at_the_stage(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    stages: str,
    needle: str,
    message: str,
) -> None:
    text = FRAUD.replace(STAGES, stages)
    match = _one_error(tmp_path, text, capsys)
    assert message in match.string
    assert _at(match) == _position(text, needle)


HEADER = """\
apiVersion: deployctl/v1
kind: Deployment
metadata: {project: demo, environment: prod}
aws: {region: us-east-1}
"""


def test_failover_priorities_must_be_unique(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        HEADER
        + """\
target:
  lambda: {function: f, alias: live}
strategy: {type: all-at-once}
regions:
  primary: us-east-1
  replicas:
    - {region: eu-west-1, replication_type: active-passive, failover_priority: 1}
    - {region: ap-southeast-1, replication_type: active-passive, failover_priority: 1}
"""
    )
    match = _one_error(tmp_path, text, capsys)
    assert "failover_priority 1 is already used by replicas[0]" in match.string
    line = text.splitlines()[int(match["line"]) - 1]
    assert "ap-southeast-1" in line
    assert line[: int(match["col"]) - 1].endswith("failover_priority: ")


def test_approvals_must_refer_to_something(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = FRAUD.replace("aws:\n", "approvals:\n  - before: stage:9\naws:\n", 1)
    match = _one_error(tmp_path, text, capsys)
    assert "matches no step or phase" in match.string
    assert _at(match) == _position(text, "stage:9")


def test_cloudfront_canary_stage_above_15_percent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        HEADER
        + """\
target:
  cloudfront: {distribution_id: E123, blue_origin: blue, green_origin: green}
strategy:
  type: canary
  stages:
    - {traffic: 5, duration: 5m}
    - {traffic: 20, duration: 10m}
    - {traffic: 100, duration: stable}
"""
    )
    match = _one_error(tmp_path, text, capsys)
    assert "at most 15%" in match.string
    assert _at(match) == _position(text, "20,")


def test_cloudformation_target_cannot_canary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        HEADER
        + """\
target:
  cloudformation: {stack: s, template: t.yaml}
strategy:
  type: canary
  stages:
    - {traffic: 10, duration: 5m}
    - {traffic: 100, duration: stable}
"""
    )
    match = _one_error(tmp_path, text, capsys)
    assert "supports all-at-once, not canary" in match.string
    assert _at(match) == _position(text, "canary\n")


@pytest.mark.parametrize("preset", ["Linear0PercentEvery1Minute", "Canary100Percent5Minutes"])
def test_preset_percentages_outside_1_to_99_are_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], preset: str
) -> None:
    text = (
        FRAUD.replace(STAGES, "")
        .replace("  stages:", "")
        .replace("type: canary", f"preset: {preset}")
    )
    match = _one_error(tmp_path, text, capsys)
    assert "between 1 and 99" in match.string
    assert _at(match) == _position(text, preset)


# --- property tests: templates built from the sandbox's own operations --------

# Values a plan's vars might hold, at the sizes a bomb starts from.
CONTEXT = {"s": "x" * 50_000, "t": "\t" * 1_000, "l": ["ab"] * 1_000, "n": 99_999}
ATOMS = ["s", "t", "l", "n", "'x'", "'{}'", "'%s'", "'\\t'", "3", "99999", "10**9", "[s, s]"]
BINARY = ["*", "~", "+", "%", "**"]
FILTERS = [
    "center(N)",
    "replace('x', A)",
    "join(A)",
    "indent(N)",
    "wordwrap(1, wrapstring=A)",
    "format(A)",
    "list",
    "map('center', N)",
    "map('upper')",
    "batch(N, A)",
    "slice(N, A)",
    "truncate(N, end=A)",
    "tojson(indent=N)",
    "urlize(target=A)",
    "string",
    "upper",
    "reverse",
    "unique",
    "sort",
    "first",
    "length",
    "sum",
]
METHODS = [
    "ljust(N)",
    "center(N)",
    "zfill(N)",
    "expandtabs(N)",
    "replace('x', A)",
    "join(A)",
    "format(A, A)",
    "translate({120: A})",
    "split('x')",
    "upper()",
    "encode()",
]


@st.composite
def expression(draw: st.DrawFn, depth: int = 3) -> str:
    """A Jinja expression made only of operations the sandbox allows."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(ATOMS))
    left = draw(expression(depth - 1))
    how = draw(st.sampled_from(["binary", "filter", "method", "list"]))
    sub = draw(expression(depth - 1))
    number = draw(st.sampled_from(["3", "1000", "99999", "10**9", "n"]))
    if how == "binary":
        return f"({left} {draw(st.sampled_from(BINARY))} {sub})"
    if how == "list":
        return f"[{left}, {sub}, {left}]"
    chosen = draw(st.sampled_from(FILTERS if how == "filter" else METHODS))
    call = chosen.replace("N", number).replace("A", sub)
    return f"({left})|{call}" if how == "filter" else f"({left}).{call}"


@st.composite
def template(draw: st.DrawFn) -> str:
    steps = ["{% set v = " + draw(expression()) + " %}" for _ in range(draw(st.integers(0, 3)))]
    body = draw(expression())
    if steps and draw(st.booleans()):
        body = re.sub(r"\bs\b", "v", body, count=1)
    if draw(st.booleans()):
        return (
            "".join(steps)
            + "{% for i in "
            + draw(expression(1))
            + " %}{{ "
            + body
            + " }}{% endfor %}"
        )
    return "".join(steps) + "{{ " + body + " }}"


@settings(
    max_examples=examples(100),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(template())
# Found by this test: 99,999 empty slices were 9 MB before |list saw them.
@example("{{ (s * ((t)|slice(99999, s))|list) }}")
def test_any_template_of_allowed_operations_renders_in_bounded_memory(text: str) -> None:
    """Whatever such a template does, it renders or fails as one diagnostic,
    never builds a value past the cap, and never allocates more than a few MB
    on top of its inputs (tracemalloc's peak: memory, not time)."""
    renderer = render.Renderer(CONTEXT, {}, render.RenderBudget(seconds=0.5))
    marks = Marks("plan.yaml")
    errors: list[Any] = []
    tracemalloc.start()
    try:
        result = renderer.render(text, marks, ("x",), errors)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"{peak / 2**20:.1f} MiB for {text!r}"
    if errors:
        (error,) = errors
        assert error.message.startswith("template error: ")
        assert "MemoryError" not in error.message
    else:
        assert len(result) <= render.MAX_RESULT


# --- property tests: durations -------------------------------------------------


@settings(max_examples=examples(300), deadline=None)
@given(st.integers(min_value=1, max_value=int(MAX_SECONDS * 1000)))
def test_format_then_parse_duration_round_trips(millis: int) -> None:
    text = format_duration(millis / 1000)
    assert re.fullmatch(r"(\d+(ms|s|m|h|d))+", text)
    assert math.isclose(parse_duration(text), millis / 1000, rel_tol=1e-12, abs_tol=1e-9)


@st.composite
def canonical_duration(draw: st.DrawFn) -> str:
    parts = [
        ("d", draw(st.integers(0, 365))),
        ("h", draw(st.integers(0, 23))),
        ("m", draw(st.integers(0, 59))),
        ("s", draw(st.integers(0, 59))),
        ("ms", draw(st.integers(0, 999))),
    ]
    text = "".join(f"{n}{unit}" for unit, n in parts if n)
    return text or "1s"


@settings(max_examples=examples(300), deadline=None)
@given(canonical_duration())
def test_parse_then_format_duration_gives_the_same_text(text: str) -> None:
    assert format_duration(parse_duration(text)) == text


@settings(max_examples=examples(300), deadline=None)
@given(st.text(max_size=20) | st.from_regex(r"[0-9.]{0,4}(ms|s|m|h|d|x)?[0-9]{0,3}[a-z]{0,2}"))
def test_parse_duration_raises_only_duration_error(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except DurationError as exc:
        assert 0 <= exc.offset <= len(text)
    else:
        assert 0 <= seconds <= MAX_SECONDS


# --- property tests: triggers --------------------------------------------------

NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,12}", fullmatch=True)
SPACE = st.sampled_from(["", " ", "  "])


@st.composite
def trigger_item(draw: st.DrawFn) -> tuple[str, tuple[str, str, float, str | None]]:
    name = draw(NAMES)
    op = draw(st.sampled_from([">", ">=", "<", "<="]))
    whole = draw(st.integers(0, 10**6))
    frac = draw(st.one_of(st.none(), st.integers(0, 999)))
    number = f"{whole}" if frac is None else f"{whole}.{frac}"
    unit = draw(st.sampled_from([None, "%", "ms", "s"]))
    value = float(number) / 100 if unit == "%" else float(number) * (1000 if unit == "s" else 1)
    spaces = [draw(SPACE) for _ in range(4)]
    text = f"{spaces[0]}{name}{spaces[1]}{op}{spaces[2]}{number}{spaces[3]}{unit or ''}"
    return text, (name, op, value, unit)


@settings(max_examples=examples(100), deadline=None)
@given(st.lists(trigger_item(), min_size=1, max_size=4))
def test_valid_trigger_strings_parse_to_their_values(
    items: list[tuple[str, tuple[str, str, float, str | None]]],
) -> None:
    parsed = parse_triggers(",".join(text for text, _ in items))
    assert len(parsed) == len(items)
    for trigger, (_, (name, op, value, unit)) in zip(parsed, items, strict=True):
        assert (trigger.metric, trigger.op, trigger.unit) == (name, op, unit)
        assert math.isclose(trigger.value, value, rel_tol=1e-12)


@settings(max_examples=examples(300), deadline=None)
@given(st.text(max_size=30) | st.text(alphabet="ErLatency<>=%ms,. 0123456789-", max_size=30))
def test_random_trigger_text_raises_only_trigger_error(text: str) -> None:
    try:
        parse_triggers(text)
    except TriggerError as exc:
        assert 0 <= exc.offset <= len(text)


@settings(max_examples=examples(200), deadline=None)
@given(trigger_item(), trigger_item(), st.sampled_from([">>", "=", "%%", "x"]))
def test_a_broken_second_trigger_is_reported_at_or_after_its_start(
    first: tuple[str, Any], second: tuple[str, Any], junk: str
) -> None:
    head = first[0] + ","
    text = head + second[0] + junk
    with pytest.raises(TriggerError) as caught:
        parse_triggers(text)
    assert len(head) <= caught.value.offset <= len(text)
