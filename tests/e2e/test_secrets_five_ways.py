"""Secrets planted five ways, then every way out searched.

Each way gets a value of its own, so each way must be hidden on its own (one
value planted five ways would be hidden everywhere as soon as one of them
was): a ``secrets:`` var holding a backslash and a quote, an SSM
SecureString that a failing program prints (so it sits inside an error,
right where the output is cut to size), an ``env()`` value, a literal under a
credential-looking key, and a secret var misused as a duration (which only
``validate`` and friends ever see, in an error).

``validate``, ``plan`` (text, markdown, json), ``graph``, ``plan --out``, ``apply`` of
the saved plan (success, local SQLite state) and of the plan file (failure,
DynamoDB state), ``status`` (text, json) and ``runs`` of both run as real
processes against a moto server.  Their stdout and stderr, every file under
the working folder (journal, WAL, saved plan, crash log) and every item of
the DynamoDB table are searched for each value raw, repr-escaped,
JSON-escaped, URL-encoded and base64-encoded, and for any 12 characters of it
in a row (a secret cut before it was redacted shows in part): zero hits.
Meanwhile the smoke target and the program got the real values, and the one
``env()`` name listed under ``public_env:`` shows as itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployctl.testing.aws import code_zip, lambda_role
from deployctl.testing.cli import run_cli
from deployctl.testing.http import HttpSide, http_side
from deployctl.testing.moto import MotoServer

SECRET_VAR = 'note-\\"7c1d-BACKSLASH-var-e2e'  # a backslash and a quote: !r and JSON escape them
SSM_VALUE = "ssm-db-pa55-in-an-error-41f9"
ENV_VALUE = "env-operator-token-9d2b/+="  # '/', '+' and '=': URL and base64 specials
LITERAL = "literal-api-key-0x5e77-c0de"
MISUSED = "misused-duration-pw-3a8e1"
SECRETS = {
    "secrets var": SECRET_VAR,
    "SSM SecureString": SSM_VALUE,
    "env()": ENV_VALUE,
    "credential key": LITERAL,
    "var as a duration": MISUSED,
}
PUBLIC = "team-payments-4471"  # env() under public_env: not a secret
TABLE = "vault-state"

PLAN = """\
apiVersion: deployctl/v1
kind: Deployment
metadata: {project: vault, environment: prod}
vars: {deploy_note: placeholder, smoke_url: "http://127.0.0.1:1"}
secrets: [deploy_note]
public_env: [VAULT_TEAM]
target:
  lambda: {function: vault-fn, alias: live}
strategy: {type: all-at-once}
tests:
  smoke:
    - name: auth
      http:
        url: "{{ smoke_url }}/health"
        headers:
          X-Note: "{{ deploy_note }}"
          X-Operator: "{{ env('VAULT_OPERATOR') }}"
          X-Team: "{{ env('VAULT_TEAM') }}"
          X-Api-Key: LITERAL
---
apiVersion: deployctl/v1
kind: Migration
metadata: {project: vault, environment: prod}
vars: {python: python, report: report.txt, echo: "no"}
database: {rds_instance: vault-db}
snapshot: false
phases:
  - validate:
      command: ["{{ python }}", check_env.py]
      env:
        DB_PASSWORD: "${ssm:/vault/db-password}"
        REPORT: "{{ report }}"
        ECHO: "{{ echo }}"
""".replace("LITERAL", LITERAL)

MISUSED_PLAN = """\
apiVersion: deployctl/v1
kind: Deployment
metadata: {project: vault, environment: prod}
vars: {db_password: placeholder}
target:
  lambda: {function: vault-fn, alias: live}
strategy: {type: blue-green, bake: "{{ db_password }}"}
"""

# Writes a hash of what it got (never the value); told to, it prints the value
# between two long runs of filler and fails: the action cuts its output to
# 2,000 characters, and the first cut falls 19 characters into the value.
CHECK_ENV = """\
import hashlib, os, sys
value = os.environ["DB_PASSWORD"]
with open(os.environ["REPORT"], "w") as fh:
    fh.write(hashlib.sha256(value.encode()).hexdigest())
if os.environ["ECHO"] == "yes":
    print("x" * 980 + " " + value + " " + "y" * 2000)
    sys.exit(1)
"""


def forms(secret: str) -> dict[str, str]:
    raw = secret.encode()
    return {
        "raw": secret,
        "repr-escaped": repr(secret)[1:-1],
        "JSON-escaped": json.dumps(secret)[1:-1],
        "URL-encoded": urllib.parse.quote(secret, safe=""),
        "base64": base64.b64encode(raw).decode(),
    }


def leaks(data: str) -> list[str]:
    found = []
    for way, secret in SECRETS.items():
        for form_name, form in forms(secret).items():
            if form in data:
                found.append(f"{way} ({form_name})")
        pieces = {secret[i : i + 12] for i in range(len(secret) - 11)}
        found += [f"{way} (part: {piece!r})" for piece in sorted(pieces) if piece in data]
    return found


@pytest.fixture
def smoke_target() -> Iterator[HttpSide]:
    with http_side() as side:
        yield side


def world(server: MotoServer) -> None:
    lam = server.client("lambda")
    lam.create_function(
        FunctionName="vault-fn",
        Runtime="python3.12",
        Role=lambda_role(server),
        Handler="handler.main",
        Code={"ZipFile": code_zip("v1")},
    )
    lam.publish_version(FunctionName="vault-fn")
    lam.create_alias(FunctionName="vault-fn", Name="live", FunctionVersion="1")
    server.client("ssm").put_parameter(
        Name="/vault/db-password", Value=SSM_VALUE, Type="SecureString"
    )
    server.client("dynamodb").create_table(
        TableName=TABLE,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def table_items(server: MotoServer) -> str:
    pages = server.client("dynamodb").get_paginator("scan").paginate(TableName=TABLE)
    return json.dumps([item for page in pages for item in page["Items"]])


def test_five_secrets_reach_no_output_file_or_table_item(
    moto_server: MotoServer, smoke_target: HttpSide, tmp_path: Path
) -> None:
    world(moto_server)
    (tmp_path / "plan.yaml").write_text(PLAN, encoding="utf-8")
    (tmp_path / "misused.yaml").write_text(MISUSED_PLAN, encoding="utf-8")
    (tmp_path / "check_env.py").write_text(CHECK_ENV, encoding="utf-8")
    env = {"VAULT_OPERATOR": ENV_VALUE, "VAULT_TEAM": PUBLIC}
    aws = ("--endpoint-url", moto_server.url, "--region", "us-east-1")
    local = ("--state-dir", str(tmp_path / "state"))
    shared = ("--state-dir", f"dynamodb://{TABLE}")
    plan_vars = (
        *("--var", f"deploy_note={SECRET_VAR}", "--var", f"smoke_url={smoke_target.base}"),
        *("--var", f"python={sys.executable}", "--var", f"report={tmp_path / 'report.txt'}"),
    )
    outputs: dict[str, str] = {}

    def run(name: str, *argv: str, code: int) -> str:
        done = run_cli(*argv, cwd=tmp_path, env=env)
        text = done.stdout + done.stderr
        assert done.returncode == code, f"{name}: {text}"
        outputs[name] = text
        return done.stdout

    run("validate", "validate", "plan.yaml", *plan_vars, code=0)
    misused = ("--var", f"db_password={MISUSED}")
    for command in ("validate", "plan", "apply"):
        argv = (command, "misused.yaml", *misused, *aws, *local)
        run(f"{command} (var as a duration)", *argv, code=1)
    assert (
        "strategy.bake: '{{ db_password }}' rendered to '<redacted:"
        in outputs["validate (var as a duration)"]
    )
    for fmt in ("text", "markdown", "json"):
        run(f"plan --format {fmt}", "plan", "plan.yaml", "--format", fmt, *plan_vars, *aws, code=0)
    for fmt in ("dot", "mermaid"):
        run(f"graph --format {fmt}", "graph", "plan.yaml", "--format", fmt, *plan_vars, code=0)
    offline = run(
        "plan --offline", "plan", "plan.yaml", "--offline", "--format", "json", *plan_vars, code=0
    )
    saved = tmp_path / "reviewed.json"
    run("plan --out", "plan", "plan.yaml", "--out", str(saved), *plan_vars, *aws, code=0)
    run("apply (success)", "apply", str(saved), *plan_vars, *aws, *local, code=0)
    failing = (*plan_vars, "--var", "echo=yes")
    run("apply (failure)", "apply", "plan.yaml", *failing, *aws, *shared, code=3)
    for where, state in (("local", local), ("table", shared)):
        for fmt in ("text", "json"):
            run(f"status --format {fmt} ({where})", "status", "--format", fmt, *state, *aws, code=0)
        run(f"runs ({where})", "runs", *state, *aws, code=0)

    # The actions got the real values...
    (request, *_) = smoke_target.headers
    assert (request["X-Note"], request["X-Operator"]) == (SECRET_VAR, ENV_VALUE)
    assert (request["X-Api-Key"], request["X-Team"]) == (LITERAL, PUBLIC)
    report = (tmp_path / "report.txt").read_text(encoding="utf-8")
    assert report == hashlib.sha256(SSM_VALUE.encode()).hexdigest()
    # ...the public env() value shows as itself, the failure says what happened...
    headers = next(
        s["params"]["headers"]
        for s in json.loads(offline)["steps"]
        if s["id"].endswith("smoke/auth")
    )
    assert headers["X-Team"] == PUBLIC and headers["X-Operator"].startswith("<redacted:")
    assert "check_env.py exited with 1" in outputs["apply (failure)"]
    # ...and no secret went anywhere else.
    everything = {
        **outputs,
        **{
            f"file {p.relative_to(tmp_path)}": p.read_bytes().decode("utf-8", "replace")
            for p in sorted(tmp_path.rglob("*"))
            if p.is_file() and p.name not in ("plan.yaml", "misused.yaml")
        },
        "the DynamoDB table": table_items(moto_server),
    }
    assert any(name.startswith("file reviewed.json") for name in everything)
    assert any("journal.sqlite" in name for name in everything)
    found = {where: hits for where, text in everything.items() if (hits := leaks(text))}
    assert found == {}
