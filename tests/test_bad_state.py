"""Broken state, as a user meets it: each case is one line on stderr, a
documented exit code (1), no traceback, and the files left as they were.
(A full disk mid-run is in tests/execute/test_fencing.py, DynamoDB throttling
in tests/state/test_dynamodb.py.)"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from deployctl.cli import main
from deployctl.errors import StateUnavailable
from deployctl.state.files import private_dir
from deployctl.testing.cli import run_cli
from deployctl.testing.fake import HEALTHY
from deployctl.testing.worlds.fraud import PLAN

FAST = ["--var", "stage1=1m", "--var", "stage2=1m", "--var", "stage3=1m"]
# No AWS call may be made before the state is found broken: any would fail here.
NOWHERE = ["--endpoint-url", "http://127.0.0.1:9"]


def unprivileged() -> list[str]:
    """Root writes anywhere: without CAP_DAC_OVERRIDE it meets permissions
    like any user (CI runs as root; a developer needs nothing)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv, "running as root: util-linux's setpriv is needed to drop CAP_DAC_OVERRIDE"
    drop = "-dac_override,-dac_read_search"
    return [setpriv, f"--inh-caps={drop}", f"--bounding-set={drop}"]


def deployctl(
    cwd: Path, *argv: str, world: Path, prefix: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """On the fake ``world`` (the test harness's process); with ``prefix``, a
    plain ``python -m deployctl`` under it, on an AWS that answers nothing."""
    if not prefix:
        return run_cli(*argv, cwd=cwd, fake_world=world)
    return subprocess.run(
        [*prefix, sys.executable, "-m", "deployctl", *argv, *NOWHERE],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("deployctl: "), proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    return lines[0]


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def waiting_run(workdir: Path) -> Path:
    """A state dir holding a run paused for approval (exit 6)."""
    world = workdir / "world.json"
    world.write_text(json.dumps({"metrics": {"*": {"ErrorRate": None, "Latency": 100}}}))
    paused = deployctl(workdir, "apply", PLAN, *FAST, world=world)
    assert paused.returncode == 6, paused.stdout + paused.stderr
    return workdir / ".deployctl"


def test_a_read_only_state_dir_is_one_line_and_left_as_it_was(tmp_path: Path) -> None:
    state = waiting_run(tmp_path)
    before = digest(state)
    world = tmp_path / "world.json"
    state.chmod(0o555)
    try:
        for argv in (("apply", PLAN, *FAST), ("status",), ("runs",)):
            line = one_line(deployctl(tmp_path, *argv, world=world, prefix=unprivileged()))
            assert line.startswith("deployctl: state dir .deployctl is read-only ("), line
            assert "make it and the journal writable, or pick another --state-dir" in line
        tmp_path.chmod(0o555)
        line = one_line(
            deployctl(
                tmp_path, "runs", "--state-dir", "new/state", world=world, prefix=unprivileged()
            )
        )
        assert line == (
            "deployctl: state dir new/state is read-only (Permission denied); deployctl keeps "
            "its journal there: make it writable or pick another --state-dir"
        )
    finally:
        tmp_path.chmod(0o755)
        state.chmod(0o700)
    assert digest(state) == before
    assert not (tmp_path / "new").exists()


def test_a_state_dir_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    world = tmp_path / "world.json"
    world.write_text(json.dumps(HEALTHY))
    (tmp_path / "state").write_text("my notes\n")
    for argv in (("apply", PLAN, *FAST), ("runs",), ("status",)):
        line = one_line(deployctl(tmp_path, *argv, "--state-dir", "state", world=world))
        assert line == (
            "deployctl: state dir state: "
            f"{tmp_path / 'state'} is a file, not a directory; point --state-dir at a directory "
            "(it is created if missing)"
        )
    assert (tmp_path / "state").read_text() == "my notes\n"
    assert json.loads(world.read_text()) == HEALTHY  # nothing was deployed


@pytest.mark.parametrize("damage", ["emptied", "truncated", "overwritten"])
def test_a_damaged_journal_is_one_line_and_never_a_fresh_start(tmp_path: Path, damage: str) -> None:
    state = waiting_run(tmp_path)
    journal = state / "journal.sqlite"
    data = journal.read_bytes()
    assert not (state / "journal.sqlite-wal").exists()  # the last process closed it
    broken = {"emptied": b"", "truncated": data[: len(data) // 3], "overwritten": b"\0" * len(data)}
    journal.write_bytes(broken[damage])
    before = digest(state)
    world = tmp_path / "world.json"
    applied = json.loads(world.read_text())["log"]
    for argv in (("apply", PLAN, *FAST), ("status",), ("runs",)):
        line = one_line(deployctl(tmp_path, *argv, world=world))
        assert line.startswith("deployctl: journal .deployctl/journal.sqlite is damaged ("), line
        assert "deployctl will not guess at the runs it held: restore it from a backup" in line
    assert digest(state) == before
    assert json.loads(world.read_text())["log"] == applied  # no new deployment started


def test_the_crash_log_is_private_and_redacted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import deployctl.commands.apply as apply_command

    secret = "hunter2-s3cr3t"
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "apiVersion: deployctl/v1\n"
        "kind: Deployment\n"
        "metadata: {project: demo, environment: prod}\n"
        "vars: {db_password: placeholder}\n"
        "secrets: [db_password]\n"
        "target:\n"
        "  lambda: {function: api, alias: live}\n"
        "strategy: {type: all-at-once}\n"
        "tests:\n"
        "  smoke:\n"
        '    - {name: auth, http: {url: "https://api.example.com/?p={{ db_password }}"}}\n',
        encoding="utf-8",
    )

    def boom(*_: object, **__: object) -> None:
        raise RuntimeError(f"could not log in with {secret}")

    monkeypatch.setattr(apply_command, "executor", boom)
    state = tmp_path / "deep" / "state"
    old = os.umask(0)
    try:
        code = main(
            ["apply", str(plan), "--var", f"db_password={secret}", "--state-dir", str(state)]
        )
    finally:
        os.umask(old)
    err = capsys.readouterr().err
    log = state / "crash.log"
    assert code == 1
    assert secret not in err and "<redacted:" in err
    assert err.strip().endswith(f"(traceback in {log})")
    text = log.read_text(encoding="utf-8")
    assert "Traceback" in text and secret not in text and "<redacted:" in text
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "deep").stat().st_mode) == 0o700


@pytest.mark.parametrize("made_by_the_other", ["directory", "file"])
def test_a_state_dir_made_by_another_process_meanwhile_is_used_or_refused_by_what_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, made_by_the_other: str
) -> None:
    """Two first runs at once: one finds the directory missing, the other makes
    it, then the first looks again.  A directory is used; a file is refused."""
    target = tmp_path / "state" / "deep"
    lexists = os.path.lexists

    def another_process_was_faster(path: str) -> bool:
        if str(path) == str(target) and not lexists(target):
            target.parent.mkdir(exist_ok=True)
            if made_by_the_other == "directory":
                target.mkdir()
            else:
                target.write_text("")
        return lexists(path)

    monkeypatch.setattr(os.path, "lexists", another_process_was_faster)
    if made_by_the_other == "directory":
        assert private_dir(str(target)) == str(target)
        assert target.is_dir()
    else:
        with pytest.raises(StateUnavailable, match="is a file, not a directory"):
            private_dir(str(target))
