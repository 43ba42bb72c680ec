"""Secret values never reach the journal, status, or output: a real process
on the fake world, then every byte under the state directory is searched."""

from __future__ import annotations

import json
from pathlib import Path

from deployctl.testing.cli import run_fake
from deployctl.testing.fake import HEALTHY, new_world

SECRET = 'tok-"9f\\3e-s3cr3t'  # a quote and a backslash: JSON would escape them

PLAN = """\
apiVersion: deployctl/v1
kind: Deployment
metadata: {project: vault, environment: prod}
vars: {api_token: placeholder}
secrets: [api_token]
target:
  lambda: {function: api, alias: live}
strategy: {type: all-at-once}
tests:
  smoke:
    - name: auth
      http: {url: "https://api.example.com/health?token={{ api_token }}"}
"""


def _everything_under(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_a_secret_var_is_in_no_journal_status_or_output(tmp_path: Path) -> None:
    workdir = new_world(tmp_path, HEALTHY)
    (workdir / "plan.yaml").write_text(PLAN, encoding="utf-8")
    done = run_fake(workdir, "apply", "plan.yaml", "--var", f"api_token={SECRET}")
    assert done.returncode == 0, done.stderr
    status = run_fake(workdir, "status", "--format", "json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["run"]["status"] == "succeeded"
    seen = done.stdout + done.stderr + status.stdout + status.stderr
    journal = _everything_under(workdir / ".deployctl")
    for form in (SECRET, json.dumps(SECRET)[1:-1]):
        assert form not in seen
        assert form.encode() not in journal
    assert b"<redacted:" in journal  # the smoke step was journaled, just not its secret


def test_a_run_with_secrets_continues_from_its_plan_file_not_the_journal(tmp_path: Path) -> None:
    workdir = new_world(tmp_path, HEALTHY)
    plan = PLAN + "approvals: [{before: switch-traffic}]\n"
    (workdir / "plan.yaml").write_text(plan, encoding="utf-8")
    paused = run_fake(workdir, "apply", "plan.yaml", "--var", f"api_token={SECRET}")
    assert paused.returncode == 6, paused.stderr
    run_id = json.loads(run_fake(workdir, "status", "--format", "json").stdout)["run"]["run_id"]
    assert run_fake(workdir, "approve", run_id).returncode == 0
    refused = run_fake(workdir, "resume", run_id)
    assert refused.returncode == 1
    assert "name the plan file instead of the run id ('deployctl apply plan.yaml'" in refused.stderr
    finished = run_fake(workdir, "apply", "plan.yaml", "--var", f"api_token={SECRET}")
    assert finished.returncode == 0, finished.stderr
    assert SECRET.encode() not in _everything_under(workdir / ".deployctl")


def test_a_run_with_secrets_rolls_back_by_its_plan_file(tmp_path: Path) -> None:
    workdir = new_world(tmp_path, HEALTHY)
    (workdir / "plan.yaml").write_text(PLAN, encoding="utf-8")
    assert run_fake(workdir, "apply", "plan.yaml", "--var", f"api_token={SECRET}").returncode == 0
    back = run_fake(workdir, "rollback", "plan.yaml", "--var", f"api_token={SECRET}")
    assert back.returncode == 3, back.stderr
    assert "rolled back cleanly" in back.stdout + back.stderr
