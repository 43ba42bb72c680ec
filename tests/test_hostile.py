"""Hostile plans and command lines, as an attacker or a careless user writes
them: every one is refused cheaply with one clear line (exit 1), or, where the
case says so, accepted.  No traceback, no internal error, no crash log.

Each case is a folder under ``tests/hostile/``: ``plan.yaml`` and
``expected.json``, listed when the tests run.  ``expected.json`` holds:

- ``argv`` (default ``["validate", "plan.yaml"]``) and ``env``;
- ``exit``, ``stderr`` and ``stdout`` (fragments that must appear), ``absent``
  (text that must appear nowhere: a secret), ``at`` (``line:col`` of the
  first error, in ``plan.yaml``);
- ``setup``: ``files`` (path -> text), ``dirs``, ``symlinks`` (link -> target),
  ``fifos``, ``generated`` (path -> ``head`` + ``repeat`` x ``times`` +
  ``tail``), ``root`` (where the repository's ``.git`` is, default ``.``);
  paths are relative to the case's copy, which sits in a folder of its own;
- ``bomb``: a template built to exhaust memory.  Bombs run together in one
  child process, whose peak RSS (``VmHWM``) must stay under 200 MB;
- ``isolated``: run in a child process with a memory limit (a case that would
  read a device without end if the check it tests were lost).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

from deployctl.cli import main

CASES = Path(__file__).parent / "hostile"
MAX_RSS_MB = 200
CHILD_ADDRESS_SPACE = 2 << 30  # a lost check fails fast in the child, never swaps the machine
# Runs deployctl in a child and reports its peak RSS in KiB as the last line: VmHWM,
# the peak of this process's own memory (ru_maxrss would also count the parent it
# was forked from, a test runner of several hundred MB: Linux keeps it across exec).
CHILD = f"""\
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({CHILD_ADDRESS_SPACE}, {CHILD_ADDRESS_SPACE}))
from deployctl.cli import main
code = main(sys.argv[1:])
with open("/proc/self/status") as fh:
    peak = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
print(f"maxrss-kb {{peak}}", file=sys.stderr)
sys.exit(code)
"""


def expected(name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((CASES / name / "expected.json").read_text("utf-8"))
    return found


def names(*, bombs: bool) -> list[str]:
    listed = sorted(p.name for p in CASES.iterdir() if (p / "expected.json").is_file())
    assert listed, "tests/hostile holds no case"
    return [n for n in listed if bool(expected(n).get("bomb")) == bombs]


def prepare(name: str, where: Path) -> Path:
    """A copy of the case in ``where/<name>/repo``, set up as it asks."""
    setup = expected(name).get("setup", {})
    repo = where / name / "repo"
    shutil.copytree(CASES / name, repo)
    (repo / setup.get("root", ".") / ".git").mkdir(exist_ok=True)
    for path, text in setup.get("files", {}).items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text, encoding="utf-8")
    for path in setup.get("dirs", []):
        (repo / path).mkdir(parents=True)
    for link, target in setup.get("symlinks", {}).items():
        (repo / link).symlink_to(target)
    for path in setup.get("fifos", []):
        os.mkfifo(repo / path)
    for path, parts in setup.get("generated", {}).items():
        body = parts["head"] + parts["repeat"] * parts["times"] + parts["tail"]
        (repo / path).write_text(body, encoding="utf-8")
    return repo


def run_child(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str, str, int]:
    """deployctl in a child process: exit code, stdout, stderr, peak RSS in KiB."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *argv],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = done.stderr.splitlines()
    match = re.fullmatch(r"maxrss-kb (\d+)", lines[-1]) if lines else None
    assert match, f"the child did not finish: {done.stderr[-2000:]}"
    return done.returncode, done.stdout, "\n".join(lines[:-1]) + "\n", int(match[1])


@contextmanager
def _unblocking(fifos: list[str]) -> Iterator[None]:
    """Should a check be lost and a read block on a FIFO, open its other end
    after 20 s so the test fails instead of hanging."""
    stop = threading.Event()

    def unblock() -> None:
        if stop.wait(20):
            return
        for fifo in fifos:
            with suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    thread = threading.Thread(target=unblock, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def check(case: dict[str, Any], code: int, out: str, err: str, plan: str = "plan.yaml") -> None:
    assert code == case.get("exit", 1), out + err
    assert "Traceback" not in out + err
    assert "internal error" not in err
    for fragment in case.get("stderr", []):
        assert fragment in err
    for fragment in case.get("stdout", []):
        assert fragment in out
    for text in case.get("absent", []):
        assert text not in out + err
    if case.get("exit", 1) == 0:
        assert err == ""
    else:
        lines = err.splitlines()
        assert lines and all(line.startswith("deployctl: ") for line in lines), err
    if "at" in case:
        assert err.startswith(f"deployctl: {plan}:{case['at']}: error: "), err


@pytest.mark.parametrize("name", names(bombs=False))
def test_hostile_case(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    case = expected(name)
    repo = prepare(name, tmp_path)
    argv = case.get("argv", ["validate", "plan.yaml"])
    if case.get("isolated"):
        code, out, err, _ = run_child(argv, repo, case.get("env", {}))
    else:
        monkeypatch.chdir(repo)
        for key, value in case.get("env", {}).items():
            monkeypatch.setenv(key, value)
        with _unblocking(case.get("setup", {}).get("fifos", [])):
            code = main(argv)
        out, err = capsys.readouterr()
    check(case, code, out, err)
    assert not (repo / ".deployctl" / "crash.log").exists()


def test_memory_bombs_are_refused_while_rendering_under_200_mb(tmp_path: Path) -> None:
    """Every bomb in one ``validate``: each refused at its value, and the whole
    process never past 200 MB of RSS (its peak, so no timing is involved)."""
    bombs = names(bombs=True)
    plans = [str(prepare(name, tmp_path).relative_to(tmp_path) / "plan.yaml") for name in bombs]
    code, out, err, peak_kb = run_child(["validate", *plans], tmp_path, {})
    assert code == 1
    assert out == ""
    for name, plan in zip(bombs, plans, strict=True):
        mine = "".join(
            line + "\n" for line in err.splitlines() if line.startswith(f"deployctl: {plan}:")
        )
        check(expected(name), 1, "", mine, plan)
    assert peak_kb < MAX_RSS_MB * 1024, f"peak RSS {peak_kb / 1024:.0f} MB"
