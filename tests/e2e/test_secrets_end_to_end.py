"""Secrets end to end, on a moto server with deployctl as a real process:
one secret planted as a secret var, one as an SSM SecureString read through
``${ssm:/path}``, one as a literal credential header.  ``plan`` (text,
markdown, json), ``plan --out``, ``apply`` of the saved plan and ``status``
run; the secrets' bytes are in no output, in no byte of the journal (the
SQLite file and its WAL) and in no plan file, while the smoke target and the
migration's program got the real values."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployctl.testing.aws import code_zip, lambda_role
from deployctl.testing.cli import run_cli
from deployctl.testing.http import HttpSide, http_side
from deployctl.testing.moto import MotoServer

VAR_SECRET = 'var-"tok\\en-9f3e'  # a quote and a backslash: JSON would escape them
SSM_TOKEN = 'ssm-"api\\token-51c7'
SSM_DB = "ssm-db-pa55-77d2"
LITERAL = "literal-k3y-0123"
SECRETS = (VAR_SECRET, SSM_TOKEN, SSM_DB, LITERAL)

PLAN = """\
apiVersion: deployctl/v1
kind: Deployment
metadata: {project: vault, environment: prod}
vars: {api_token: placeholder, smoke_url: "http://127.0.0.1:1"}
target:
  lambda: {function: vault-fn, alias: live}
strategy: {type: all-at-once}
tests:
  smoke:
    - name: auth
      http:
        url: "{{ smoke_url }}/health"
        headers:
          Authorization: "Bearer ${ssm:/vault/api-token}"
          X-Var-Token: "{{ api_token }}"
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

# The migration's program: writes a hash of what it got (never the value),
# and, when told to, prints the value and fails, as a careless script might.
CHECK_ENV = """\
import hashlib, os, sys
value = os.environ["DB_PASSWORD"]
with open(os.environ["REPORT"], "w") as fh:
    fh.write(hashlib.sha256(value.encode()).hexdigest())
if os.environ["ECHO"] == "yes":
    print("could not connect with password " + value)
    sys.exit(1)
"""


@pytest.fixture
def smoke_target() -> Iterator[HttpSide]:
    """A local web server that keeps the headers of every request."""
    with http_side() as side:
        yield side


def world(server: MotoServer) -> None:
    """vault-fn version 1 behind alias live, and the two SecureStrings."""
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
    ssm = server.client("ssm")
    ssm.put_parameter(Name="/vault/api-token", Value=SSM_TOKEN, Type="SecureString")
    ssm.put_parameter(Name="/vault/db-password", Value=SSM_DB, Type="SecureString")


def forms(secret: str) -> tuple[bytes, ...]:
    """The bytes of ``secret`` as written raw and as JSON would escape it."""
    return (secret.encode(), json.dumps(secret)[1:-1].encode())


def assert_no_secret(where: str, data: bytes | str) -> None:
    body = data.encode() if isinstance(data, str) else data
    for secret in SECRETS:
        for form in forms(secret):
            assert form not in body, f"{secret!r} leaked into {where}"


def everything_under(folder: Path) -> bytes:
    """Every byte of every file: the SQLite journal, its -wal and -shm, locks."""
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def hashed(secret: str) -> str:
    return f"<redacted:{hashlib.sha256(secret.encode()).hexdigest()[:8]}>"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "plan.yaml").write_text(PLAN, encoding="utf-8")
    (tmp_path / "check_env.py").write_text(CHECK_ENV, encoding="utf-8")
    return tmp_path


def common(server: MotoServer, workdir: Path, smoke: HttpSide, *extra: str) -> tuple[str, ...]:
    return (
        "--endpoint-url",
        server.url,
        "--region",
        "us-east-1",
        "--state-dir",
        str(workdir / "state"),
        "--var",
        f"api_token={VAR_SECRET}",
        "--var",
        f"smoke_url={smoke.base}",
        "--var",
        f"python={sys.executable}",
        "--var",
        f"report={workdir / 'report.txt'}",
        *extra,
    )


def test_no_secret_reaches_any_output_journal_or_plan_file(
    moto_server: MotoServer, smoke_target: HttpSide, workdir: Path
) -> None:
    world(moto_server)
    plan = str(workdir / "plan.yaml")
    args = common(moto_server, workdir, smoke_target)
    outputs: dict[str, str] = {}

    for fmt in ("text", "markdown", "json"):
        shown = run_cli("plan", plan, "--format", fmt, *args, cwd=workdir)
        assert shown.returncode == 0, shown.stdout + shown.stderr
        outputs[f"plan --format {fmt}"] = shown.stdout + shown.stderr
    # The compiled plan shows the reference (plan never reads it) and literal
    # credentials as a hash.
    offline = run_cli("plan", plan, "--offline", "--format", "json", *args, cwd=workdir)
    assert offline.returncode == 0, offline.stderr
    outputs["plan --offline --format json"] = offline.stdout + offline.stderr
    headers = next(
        s["params"]["headers"]
        for s in json.loads(offline.stdout)["steps"]
        if s["id"] == "us-east-1/smoke/auth"
    )
    assert headers == {
        "Authorization": "Bearer ${ssm:/vault/api-token}",
        "X-Var-Token": hashed(VAR_SECRET),
        "X-Api-Key": hashed(LITERAL),
    }

    saved = workdir / "reviewed.json"
    out = run_cli("plan", plan, "--out", str(saved), *args, cwd=workdir)
    assert out.returncode == 0, out.stdout + out.stderr
    outputs["plan --out"] = out.stdout + out.stderr
    assert b"${ssm:/vault/api-token}" in saved.read_bytes()

    applied = run_cli("apply", str(saved), *args, cwd=workdir)
    outputs["apply"] = applied.stdout + applied.stderr
    assert applied.returncode == 0, outputs["apply"]

    state = ("--state-dir", str(workdir / "state"))
    for fmt in ("text", "json"):
        status = run_cli("status", "--format", fmt, *state, cwd=workdir)
        assert status.returncode == 0, status.stderr
        outputs[f"status --format {fmt}"] = status.stdout + status.stderr
    assert json.loads(outputs["status --format json"])["run"]["status"] == "succeeded"

    # The actions got the real values...
    (request,) = smoke_target.headers
    assert request["Authorization"] == f"Bearer {SSM_TOKEN}"
    assert request["X-Var-Token"] == VAR_SECRET
    assert request["X-Api-Key"] == LITERAL
    report = (workdir / "report.txt").read_text(encoding="utf-8")
    assert report == hashlib.sha256(SSM_DB.encode()).hexdigest()

    # ...and nothing else did.
    for where, text in outputs.items():
        assert_no_secret(where, text)
    assert_no_secret("the saved plan", saved.read_bytes())
    journal = everything_under(workdir / "state")
    assert_no_secret("the state directory", journal)
    # The journal keeps the reference text where the value went.
    assert b"Bearer ${ssm:/vault/api-token}" in journal
    assert b"${ssm:/vault/db-password}" in journal


def test_a_program_that_prints_the_value_is_redacted_in_output_and_journal(
    moto_server: MotoServer, smoke_target: HttpSide, workdir: Path
) -> None:
    world(moto_server)
    args = common(moto_server, workdir, smoke_target, "--var", "echo=yes")
    done = run_cli("apply", str(workdir / "plan.yaml"), *args, cwd=workdir)
    output = done.stdout + done.stderr
    assert done.returncode == 3, output  # the validate failed: rolled back
    # The program did get the value, and printed it: deployctl shows a hash instead.
    assert (workdir / "report.txt").read_text(encoding="utf-8") == (
        hashlib.sha256(SSM_DB.encode()).hexdigest()
    )
    assert re.search(r"could not connect with password <redacted:[0-9a-f]{8}>", output)
    assert_no_secret("apply", output)
    journal = everything_under(workdir / "state")
    assert_no_secret("the state directory", journal)
    # The journal shows that the value was there, as its hash.
    assert f"could not connect with password {hashed(SSM_DB)}".encode() in journal
