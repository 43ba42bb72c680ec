"""Command-line conventions: JSON with format_version, -q, shell completion,
sandbox runs listed apart."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from deployctl.cli import main

ROOT = Path(__file__).parents[1]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_json_lists_every_file_and_problem(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: deployctl/v1\nkind: Deployment\nmetadata: {project: x}\nstrategy: 3\n"
    )
    code, out, err = run(
        capsys, "validate", str(ROOT / "plans/fraud-or-not.yaml"), str(bad), "--format", "json"
    )
    assert code == 1 and err == ""  # problems are in the document, not on stderr
    data = json.loads(out)
    assert data["format_version"] == 1 and data["ok"] is False
    good, broken = data["files"]
    assert good["ok"] and good["steps"] == 13 and len(good["digest"]) == 64
    assert not broken["ok"] and broken["problems"]
    assert all(p["file"] == str(bad) and p["line"] for p in broken["problems"])


def test_quiet_validate_prints_only_problems(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", "-q", str(ROOT / "plans/fraud-or-not.yaml"))
    assert code == 0 and out == ""


def test_runs_json_and_sandbox_runs_listed_apart(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    state = str(tmp_path)
    code, _, _ = run(
        capsys,
        "apply",
        "plans/fraud-or-not.yaml",
        "--sandbox",
        "--sandbox-speed",
        "1000000",
        "--state-dir",
        state,
    )
    assert code == 0
    code, out, _ = run(capsys, "runs", "--state-dir", state, "--format", "json")
    assert code == 0 and json.loads(out) == {"format_version": 1, "runs": []}  # real runs only
    code, out, _ = run(capsys, "runs", "--sandbox", "--state-dir", state, "--format", "json")
    data = json.loads(out)
    assert [r["project"] for r in data["runs"]] == ["fraud-or-not"]
    assert data["runs"][0]["status"] == "succeeded"
    code, out, _ = run(capsys, "runs", "--sandbox", "--state-dir", state)
    assert "succeeded" in out and "fraud-or-not/prod" in out
    code, out, _ = run(
        capsys, "status", "--state-dir", str(tmp_path / "sandbox"), "--format", "json"
    )
    assert json.loads(out)["format_version"] == 1


def test_bash_completion_completes_commands_and_options(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, script, _ = run(capsys, "completion", "bash")
    assert code == 0
    path = tmp_path / "deployctl.bash"
    path.write_text(script)
    probe = (
        f"source {path}; "
        "COMP_WORDS=(deployctl ap); COMP_CWORD=1; _shtab_deployctl; echo ${COMPREPLY[@]}; "
        "COMP_WORDS=(deployctl report --for); COMP_CWORD=2; _shtab_deployctl; echo ${COMPREPLY[@]}"
    )
    got = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True)
    assert got.stdout.splitlines() == ["apply approve", "--format"]


def test_completion_without_shtab_says_how_to_get_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "shtab", None)  # as if not installed
    code, _, err = run(capsys, "completion", "zsh")
    assert code == 1 and "pip install 'deployctl[completion]'" in err


def test_version_loads_no_view_or_chart_library() -> None:
    probe = "import sys; from deployctl.cli import main\ntry:\n main(['--version'])\nexcept SystemExit: pass\nprint(sorted(m for m in ('rich', 'matplotlib', 'shtab') if m in sys.modules))"
    got = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert got.stdout.strip().splitlines()[-1] == "[]"
