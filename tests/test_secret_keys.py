"""What counts as a secret before anything runs: credential-looking keys in
step params join the plan's secret values (so every output that redacts the
plan redacts them), and ``${ssm:/path}`` references are checked at load time
and shown as written, never read, by ``plan``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deployctl.cli import main
from deployctl.core.plan import Plan
from deployctl.execute.observe import Observed
from deployctl.manifest import load_text
from deployctl.manifest.secrets import credential_values, looks_secret, ssm_name_problem
from deployctl.plan import compile_plan
from deployctl.preview.planfile import save
from deployctl.secrets import Redactor

BEARER = "Bearer abc-l1teral-t0ken"
DB_PASSWORD = "pg-l1teral-pw"

PLAN = f"""\
apiVersion: deployctl/v1
kind: Deployment
metadata: {{project: vault, environment: prod}}
target:
  lambda: {{function: api, alias: live}}
strategy: {{type: all-at-once}}
tests:
  smoke:
    - name: auth
      http:
        url: https://api.example.com/health
        headers:
          Authorization: "{BEARER}"
          X-Request-Source: deployctl
          X-Upstream-Token: "Token ${{ssm:/vault/upstream-token}}"
---
apiVersion: deployctl/v1
kind: Migration
metadata: {{project: vault, environment: prod}}
database: {{rds_instance: vault-db}}
snapshot: false
phases:
  - validate:
      command: [python, check.py]
      env:
        DB_PASSWORD: {DB_PASSWORD}
        DB_URL: "postgres://app:${{ssm:/vault/db-password}}@db/app"
        DB_HOST: db.internal
"""


def compiled(tmp_path: Path, text: str = PLAN) -> Plan:
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    return compile_plan(load_text(text, str(path)), str(path))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "DB_PASSWORD",
        "Authorization",
        "X-Api-Key",
        "apikey",
        "client_secret",
        "GITHUB_TOKEN",
        "aws_secret_access_key",
        "private_key_pem",
        "credentials",
        "passphrase",
    ],
)
def test_credential_looking_keys(key: str) -> None:
    assert looks_secret(key)


@pytest.mark.parametrize("key", ["url", "function", "alias", "X-Request-Source", "DB_HOST", "argv"])
def test_ordinary_keys(key: str) -> None:
    assert not looks_secret(key)


def test_credential_values_are_every_string_under_a_credential_key() -> None:
    params = {
        "url": "https://x",
        "headers": {"Authorization": "Bearer a", "Accept": "json"},
        "payload": {"credentials": {"user": "bob", "pin": 1234, "keys": ["k1", ""]}},
        "api_key": "${ssm:/k}",
        "token_hint": "x-${region}",
    }
    assert sorted(credential_values(params)) == sorted(
        ["Bearer a", "bob", "k1", "${ssm:/k}", "x-${region}"]
    )
    # Before the run, a value holding a reference is not known yet.
    assert sorted(credential_values(params, literal_only=True)) == ["Bearer a", "bob", "k1"]


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("/vault/api-token", None),
        ("/a", None),
        ("/vault/db:3", None),
        ("/vault/db:prod_label", None),
        ("", "the parameter path is empty"),
        ("relative/path", "'relative/path' is not a full path: it must start with '/'"),
        ("/vault//x", "'/vault//x' has an empty path segment ('//')"),
        ("/vault/", "'/vault/' is not a parameter path"),
        ("/va ult", "'/va ult' is not a parameter path"),
    ],
)
def test_ssm_paths(name: str, problem: str | None) -> None:
    found = ssm_name_problem(name)
    assert found == problem or (
        problem is not None and found is not None and found.startswith(problem)
    )


def test_literal_credential_params_join_the_plans_secret_values(tmp_path: Path) -> None:
    plan = compiled(tmp_path)
    assert plan.secret_values == {BEARER, DB_PASSWORD}
    smoke = plan.by_id["us-east-1/smoke/auth"].params
    # The action gets headers as a mapping; references stay as written.
    assert smoke["headers"]["X-Upstream-Token"] == "Token ${ssm:/vault/upstream-token}"
    env = plan.by_id["us-east-1/migration/validate"].params["env"]
    assert env["DB_URL"] == "postgres://app:${ssm:/vault/db-password}@db/app"


def test_plans_without_headers_or_env_compile_as_before(tmp_path: Path) -> None:
    text = PLAN.split("---", maxsplit=1)[0]
    text = text[: text.index("        headers:")]
    plan = compiled(tmp_path, text)
    assert "headers" not in plan.by_id["us-east-1/smoke/auth"].params
    assert plan.secret_values == frozenset()


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_plan_output_hides_literal_credentials_and_shows_references(
    fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN, encoding="utf-8")
    code, out, err = run(capsys, "plan", str(path), "--offline", "--format", fmt)
    assert code == 0, err
    for secret in (BEARER, DB_PASSWORD, "abc-l1teral"):
        assert secret not in out + err
    if fmt == "json":
        steps = {s["id"]: s for s in json.loads(out)["steps"]}
        headers = steps["us-east-1/smoke/auth"]["params"]["headers"]
        assert headers["Authorization"] == Redactor([BEARER])(BEARER)
        assert headers["X-Upstream-Token"] == "Token ${ssm:/vault/upstream-token}"
        assert headers["X-Request-Source"] == "deployctl"  # not a credential: shown
        env = steps["us-east-1/migration/validate"]["params"]["env"]
        assert env["DB_URL"] == "postgres://app:${ssm:/vault/db-password}@db/app"
        assert env["DB_PASSWORD"].startswith("<redacted:")


def test_a_saved_plan_holds_no_literal_credential(tmp_path: Path) -> None:
    plan = compiled(tmp_path)
    out = tmp_path / "saved.json"
    save(str(out), plan, Observed({}, (), {}))
    body = out.read_bytes()
    assert BEARER.encode() not in body and DB_PASSWORD.encode() not in body
    assert b"${ssm:/vault/upstream-token}" in body
    assert json.loads(body)["has_secrets"] is True  # apply FILE compiles the source again


def test_a_secret_var_holding_a_reference_shows_the_reference(tmp_path: Path) -> None:
    text = (
        PLAN.split("---", maxsplit=1)[0]
        .replace("target:", 'vars: {api_token: "${ssm:/vault/api}"}\ntarget:')
        .replace("deployctl\n", '"{{ api_token }}"\n')
    )
    plan = compiled(tmp_path, text)
    assert plan.by_id["us-east-1/smoke/auth"].params["headers"]["X-Request-Source"] == (
        "${ssm:/vault/api}"
    )
    assert plan.secret_values == {BEARER}


@pytest.mark.parametrize(
    ("ref", "why"),
    [
        ("${ssm:}", "the parameter path is empty"),
        ("${ssm:relative}", "'relative' is not a full path: it must start with '/'"),
        ("${ssm:/a//b}", "'/a//b' has an empty path segment ('//')"),
    ],
)
def test_a_malformed_ssm_reference_is_a_located_error(
    ref: str, why: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = PLAN.replace("${ssm:/vault/upstream-token}", ref)
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    code, _, err = run(capsys, "validate", str(path))
    assert code == 1
    line_no, line = next(
        (n, line) for n, line in enumerate(text.splitlines(), 1) if "X-Upstream-Token" in line
    )
    col = line.index("$") + 1
    assert err == (
        f"deployctl: {path}:{line_no}:{col}: error: "
        f"tests.smoke[0].http.headers.X-Upstream-Token: malformed SSM reference {ref}: {why} "
        "(expected ${ssm:/path/to/parameter})\n"
    )


def test_an_unknown_reference_lists_ssm_among_the_known(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN.replace("${ssm:/vault/upstream-token}", "${vault:/x}"), encoding="utf-8")
    code, _, err = run(capsys, "validate", str(path))
    assert code == 1
    assert "unknown runtime reference ${vault:/x}" in err
    assert "ssm:/path/to/parameter" in err


def test_env_belongs_to_a_command_runner(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = PLAN.replace("command: [python, check.py]", "lambda: {function: check}")
    path = tmp_path / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    code, _, err = run(capsys, "validate", str(path))
    assert code == 1
    assert "phases[0].validate.env: env is for a command runner's program" in err


def test_a_redactor_learns_values_later() -> None:
    redact = Redactor(["short"])
    redact.add("a-longer-short-secret", "")
    assert redact("x a-longer-short-secret short") == (
        f"x {Redactor(['a-longer-short-secret'])('a-longer-short-secret')} "
        f"{Redactor(['short'])('short')}"
    )
    assert redact.secrets == ["a-longer-short-secret", "short"]
