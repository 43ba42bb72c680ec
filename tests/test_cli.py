"""The command line as a user meets it: exit codes, one-line errors, formats."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from deployctl.cli import main
from deployctl.core.plan import Plan
from deployctl.manifest.schema import schema_text

ROOT = Path(__file__).resolve().parents[1]
PLANS = sorted((ROOT / "plans").glob("*.yaml"))
LOCATED = re.compile(r"^deployctl: \S+:\d+:\d+: error: ")

MINIMAL = """\
apiVersion: deployctl/v1
kind: Deployment
metadata: {project: demo, environment: prod}
vars: {first: 5m}
target:
  lambda: {function: api, alias: live}
strategy:
  type: canary
  stages:
    - {traffic: 10, duration: "{{ first }}"}
    - {traffic: 100, duration: stable}
"""


def write(tmp_path: Path, text: str, name: str = "plan.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: p.name)
def test_every_example_plan_validates(plan: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "validate", str(plan))
    assert (code, err) == (0, "")
    assert f"{plan}: ok" in out


def test_validate_serializes_the_plan_for_its_digest_only_in_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The digest hashes the whole plan as JSON (0.2 s for 12,000 steps):
    text output does not show it, so it does not pay for it."""
    good = write(tmp_path, MINIMAL, "good.yaml")
    digests: list[str] = []
    real = Plan.to_json

    def counted(self: Plan, **kw: bool) -> dict[str, object]:
        digests.append(self.project)
        return real(self, **kw)

    monkeypatch.setattr(Plan, "to_json", counted)
    assert run(capsys, "validate", good)[0] == 0
    assert digests == []
    code, out, _ = run(capsys, "validate", good, "--format", "json")
    assert code == 0 and len(digests) == 1
    assert re.fullmatch(r"[0-9a-f]{64}", json.loads(out)["files"][0]["digest"])


def test_validate_reports_every_file_and_fails_if_any_is_broken(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(tmp_path, MINIMAL, "good.yaml")
    bad = write(
        tmp_path,
        MINIMAL.replace("traffic: 10,", "traffic: 110,").replace(
            "alias: live", "alias: live, colour: red"
        ),
        "bad.yaml",
    )
    code, out, err = run(capsys, "validate", bad, good)
    assert code == 1
    assert f"{good}: ok" in out
    lines = err.strip().splitlines()
    assert len(lines) == 2
    assert all(LOCATED.match(line) for line in lines), lines
    col = Path(bad).read_text(encoding="utf-8").splitlines()[5].index("colour") + 1
    assert f"{bad}:6:{col}: error: target.lambda.colour: unknown field 'colour'" in err
    assert f"{bad}:10:17: error: strategy.stages[0].traffic: must be at most 100, got 110" in err


def test_missing_file_is_one_line_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "plan", str(tmp_path / "nope.yaml"), "--offline")
    assert code == 1
    assert err.strip() == f"deployctl: {tmp_path / 'nope.yaml'}: error: no such file"


def test_bad_usage_exits_1_not_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "plan")
    assert code == 1  # 2 means "changes" in this tool
    # one line, the command named once
    assert err == (
        "deployctl: error: plan: the following arguments are required: PLAN "
        "(see deployctl plan --help)\n"
    )


def test_plan_text_shows_steps_traffic_waits_and_totals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "plan", write(tmp_path, MINIMAL), "--offline")
    assert code == 0
    shift = next(line for line in out.splitlines() if "us-east-1/canary/stage-1/shift" in line)
    assert "10%" in shift
    gate = next(line for line in out.splitlines() if "us-east-1/canary/stage-1/analysis" in line)
    assert " 5m " in gate
    assert "4 steps; minimum wall time 5m (critical path)" in out
    assert "approvals: none" in out


def test_var_overrides_plan_vars(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vars_file = write(tmp_path, "first: 2m\n", "vars.yaml")
    plan = write(tmp_path, MINIMAL)
    _, out, _ = run(capsys, "plan", plan, "--offline", "--vars-file", vars_file, "--format", "json")
    assert json.loads(out)["summary"]["min_wall_seconds"] == 120
    _, out, _ = run(
        capsys,
        "plan",
        plan,
        "--offline",
        "--vars-file",
        vars_file,
        "--var",
        "first=30s",
        "--format",
        "json",
    )
    assert json.loads(out)["summary"]["min_wall_seconds"] == 30


def test_bad_var_syntax_is_a_user_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "plan", write(tmp_path, MINIMAL), "--var", "novalue")
    assert code == 1
    assert "--var 'novalue': expected KEY=VALUE" in err


def test_env_is_the_only_door_to_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPLOY_ALIAS", "canary-live")
    text = MINIMAL.replace("alias: live", "alias: \"{{ env('DEPLOY_ALIAS') }}\"")
    plan = write(tmp_path, text + "public_env: [DEPLOY_ALIAS]\n")
    _, out, _ = run(capsys, "plan", plan, "--offline", "--format", "json")
    assert json.loads(out)["steps"][0]["params"]["alias"] == "canary-live"
    plan = write(tmp_path, MINIMAL.replace("alias: live", 'alias: "{{ DEPLOY_ALIAS }}"'))
    code, _, err = run(capsys, "validate", plan)
    assert code == 1
    col = MINIMAL.splitlines()[5].index("live") + 1  # the opening quote of the value
    assert (
        f":6:{col}: error: target.lambda.alias: template error: 'DEPLOY_ALIAS' is undefined" in err
    )


def test_unknown_runtime_reference_points_at_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write(tmp_path, MINIMAL.replace("alias: live", 'alias: "live-${newest_version}"'))
    code, _, err = run(capsys, "validate", plan)
    assert code == 1
    line = Path(plan).read_text(encoding="utf-8").splitlines()[5]
    assert (
        f":6:{line.index('$') + 1}: error: target.lambda.alias: unknown runtime reference ${{newest_version}}"
        in err
    )


def test_json_output_is_versioned_and_deterministic(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write(tmp_path, MINIMAL)
    _, first, _ = run(capsys, "plan", plan, "--offline", "--format", "json")
    _, second, _ = run(capsys, "plan", plan, "--offline", "--format", "json")
    data = json.loads(first)
    assert first == second
    assert data["format_version"] == 1
    assert [s["id"] for s in data["steps"]] == [
        "us-east-1/deploy/publish",
        "us-east-1/canary/stage-1/shift",
        "us-east-1/canary/stage-1/analysis",
        "us-east-1/canary/stage-2/shift",
    ]


def test_offline_detailed_exitcode_counts_mutating_steps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys,
        "plan",
        write(tmp_path, MINIMAL),
        "--offline",
        "--format",
        "markdown",
        "--detailed-exitcode",
    )
    assert code == 2
    assert out.startswith("### deployctl plan: demo (prod)")
    code, _, err = run(capsys, "plan", write(tmp_path, MINIMAL), "--offline", "--out", "x")
    assert code == 1
    assert "cannot be used with --offline" in err


def test_graph_formats_carry_every_edge(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = write(tmp_path, MINIMAL)
    _, dot, _ = run(capsys, "graph", plan, "--format", "dot")
    assert '"us-east-1/canary/stage-1/shift" -> "us-east-1/canary/stage-1/analysis";' in dot
    assert dot.count("->") == 3
    _, mermaid, _ = run(capsys, "graph", plan, "--format", "mermaid")
    assert mermaid.startswith("flowchart LR")
    assert mermaid.count("-->") == 3


def test_schema_command_prints_the_shipped_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schema")
    assert code == 0
    assert (
        out
        == (ROOT / "schemas" / "deployctl-v1.schema.json").read_text(encoding="utf-8")
        == schema_text()
    )
    assert json.loads(out)["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("secret", ["s3cr3t-t0ken", 'quo"te\\slash-\u00e9t\u00e9'])
def test_secret_vars_never_reach_plan_output(
    secret: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = MINIMAL.replace("vars: {first: 5m}", "vars: {first: 5m, api_token: placeholder}") + (
        "tests:\n  smoke:\n    - name: t\n"
        '      http: {url: "https://x.example.com/?t={{ api_token }}"}\n'
    )
    plan = write(tmp_path, text)
    for fmt in ("text", "markdown", "json"):
        code, out, err = run(
            capsys, "plan", plan, "--offline", "--format", fmt, "--var", f"api_token={secret}"
        )
        assert code == 0, err
        # neither the raw bytes nor their JSON-escaped spelling may appear
        assert secret not in out
        assert json.dumps(secret)[1:-1] not in out
        assert "<redacted:" in out


def test_validate_runs_as_a_real_process_without_traceback(tmp_path: Path) -> None:
    plan = write(tmp_path, MINIMAL.replace("kind: Deployment", "kind: Deployment\n  bad: [indent"))
    proc = subprocess.run(
        [sys.executable, "-m", "deployctl", "validate", plan],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert LOCATED.match(proc.stderr)


def test_internal_errors_are_one_line_with_a_crash_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import deployctl.commands.plan as plan_command

    def boom(*_: object) -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(plan_command, "load_plan", boom)
    state = tmp_path / "state"
    code, _, err = run(capsys, "plan", "x.yaml", "--state-dir", str(state))
    assert code == 1
    assert (
        err.strip()
        == f"deployctl: internal error: RuntimeError: kaboom (traceback in {state / 'crash.log'})"
    )
    assert "Traceback" in (state / "crash.log").read_text(encoding="utf-8")


def test_jinja_region_points_to_the_runtime_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write(tmp_path, MINIMAL.replace("alias: live", 'alias: "live-{{ region }}"'))
    code, _, err = run(capsys, "validate", plan)
    assert code == 1
    assert "'region' is undefined (use ${region}: a plan file is rendered once" in err


def test_plan_shows_several_files_in_turn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = write(tmp_path, MINIMAL, "a.yaml")
    second = write(tmp_path, MINIMAL.replace("project: demo", "project: billing"), "b.yaml")
    code, out, _ = run(capsys, "plan", first, second, "--offline", "--format", "json")
    assert code == 0
    assert [p["project"] for p in json.loads(out)] == ["demo", "billing"]
    code, out, _ = run(capsys, "plan", first, second, "--offline")
    assert [line for line in out.splitlines() if line.startswith("Plan:")] == [
        f"Plan: demo (prod): Deployment, canary, from {first}",
        f"Plan: billing (prod): Deployment, canary, from {second}",
    ]
    code, _, err = run(capsys, "plan", first, second, "--out", str(tmp_path / "x.json"))
    assert code == 1 and "--out saves one reviewed plan" in err


def test_text_errors_quote_the_line_with_a_caret_under_the_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPLOYCTL_SNIPPETS", "1")
    plan = write(tmp_path, MINIMAL.replace("traffic: 10,", "traffic: 110,"))
    code, _, err = run(capsys, "validate", plan)
    assert code == 1
    assert err.splitlines()[1:] == [
        "   |",
        '10 |     - {traffic: 110, duration: "{{ first }}"}',
        "   |                 ^",
    ]
    monkeypatch.setenv("DEPLOYCTL_SNIPPETS", "0")
    _, _, err = run(capsys, "validate", plan)
    assert len(err.splitlines()) == 1


def test_a_snippet_never_shows_a_secret_var(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPLOYCTL_SNIPPETS", "1")
    text = MINIMAL.replace(
        "vars: {first: 5m}", "vars: {first: 5m, api_token: hunter2-SECRET}"
    ).replace("strategy:\n", "strategy:\n  bake: '{{ api_token }}'\n")
    code, _, err = run(capsys, "validate", write(tmp_path, text))
    assert code == 1 and "hunter2" not in err
    text = MINIMAL.replace(
        "vars: {first: 5m}", "vars: {first: 5m, api_token: hunter2-SECRET, x: 1}"
    )
    text = text.replace("{first: 5m,", "{first: '{{ nope }}',")
    code, _, err = run(capsys, "validate", write(tmp_path, text))
    assert code == 1 and "hunter2" not in err and "^" in err
