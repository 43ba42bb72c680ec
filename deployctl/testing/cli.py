"""deployctl's command line as a real process, for end-to-end tests.

Each run is a child of the pre-loaded fork server
(:mod:`deployctl.testing.forkserver`): its own pid, working directory,
environment and output, without a cold interpreter's start.  One server per
test process, started on first use and stopped at exit.

- :func:`run_cli` runs to the end and returns a ``CompletedProcess`` (a
  SIGKILLed child has returncode -9, as with ``subprocess``);
- :func:`start_cli` returns a :class:`CliProcess` (``poll``, ``wait``,
  ``communicate``, ``pid``) for runs that overlap;
- :class:`Running` reads a background run's output line by line.

``crash`` cuts the run at a :class:`~deployctl.testing.crash.CrashPoint`,
``fake_world`` runs it against a fake world file instead of AWS, ``trace``
writes its journal records and AWS calls to a file, ``clock="skipping"``
makes its waits (gates, polls) take no real time
(:class:`~deployctl.testing.clock.SkippingClock`).
"""

from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import IO, Any

from deployctl.testing.crash import CrashPoint
from deployctl.testing.forkserver import Job
from deployctl.testing.worlds import ROOT


class ForkServer:
    """The client side of one fork server process."""

    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="deployctl-forkserver-")
        self.path = os.path.join(self.folder, "socket")
        self.proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "deployctl.testing.forkserver", self.path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=self.folder,
            env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        )
        assert self.proc.stdout is not None
        ready = self.proc.stdout.readline()
        if ready.strip() != b"ready":
            self.close()
            raise RuntimeError(f"the fork server did not start (said {ready!r})")

    def spawn(self, job: Job, stdin: int, stdout: int, stderr: int) -> Child:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sock.connect(self.path)
        socket.send_fds(sock, [job.encode()], [stdin, stdout, stderr])
        reply = sock.recv(4096)
        if not reply:
            sock.close()
            raise RuntimeError("the fork server refused the job")
        return Child(sock, int(json.loads(reply)["pid"]))

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()  # the server's signal to stop
        self.proc.wait(timeout=30)
        if self.proc.stdout:
            self.proc.stdout.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class Child:
    """A forked child, as the client sees it: its pid, then its exit code."""

    def __init__(self, sock: socket.socket, pid: int) -> None:
        self.sock = sock
        self.pid = pid
        self.returncode: int | None = None
        self.cpu: float | None = None  # its user + system CPU seconds, once ended
        # Called when the server says the child stopped at a pause point;
        # the child goes on if it returns True.
        self.on_stop: Callable[[], bool] | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            ready, _, _ = select.select([self.sock], [], [], 0)
            if ready:
                self._read()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            ready, _, _ = select.select([self.sock], [], [], timeout)
            if not ready:
                raise subprocess.TimeoutExpired("deployctl", timeout or 0.0)
            self._read()
        assert self.returncode is not None
        return self.returncode

    def _read(self) -> None:
        while True:
            data = self.sock.recv(4096)
            ended = json.loads(data) if data else {}
            if "stopped" not in ended:
                break
            if self.on_stop is None:
                raise RuntimeError(f"child {self.pid} stopped, and nobody waits for its stops")
            if self.on_stop():
                self.sock.send(b"c")
        self.sock.close()
        if not data:
            raise RuntimeError(f"the fork server lost child {self.pid}")
        self.returncode = int(ended["returncode"])
        self.cpu = float(ended["cpu"])

    def kill(self) -> None:
        """Hang up: the server SIGKILLs the child."""
        if self.returncode is None and self.sock.fileno() >= 0:
            self.sock.close()
            self.returncode = -9


_server: ForkServer | None = None
_server_lock = threading.Lock()


def fork_server() -> ForkServer:
    """This process's fork server, started on first use."""
    global _server  # noqa: PLW0603 - one server per test process
    with _server_lock:
        if _server is None:
            _server = ForkServer()
            atexit.register(stop_fork_server)
        return _server


def stop_fork_server() -> None:
    global _server  # noqa: PLW0603
    with _server_lock:
        if _server is not None:
            _server.close()
            _server = None


class CliProcess:
    """``deployctl ARGV`` running in a forked child, shaped like ``Popen``
    (text mode).  Output goes to temporary files, or with ``stream`` to
    :attr:`stdout`, a pipe that carries stdout and stderr together."""

    def __init__(
        self,
        argv: tuple[str, ...],
        *,
        cwd: Path | str = ROOT,
        env: Mapping[str, str] | None = None,
        crash: CrashPoint | str | None = None,
        fake_world: Path | str | None = None,
        trace: Path | str | None = None,
        stream: bool = False,
        pause: Collection[str] = (),
        pause_log: Path | str | None = None,
        clock: str | None = None,
    ) -> None:
        self.args = ["deployctl", *argv]
        job = Job(
            argv=list(argv),
            cwd=str(cwd),
            env={**os.environ, **(env or {})},
            crash=None if crash is None else str(crash),
            fake_world=None if fake_world is None else str(fake_world),
            trace=None if trace is None else str(trace),
            pause=sorted(pause),
            pause_log=None if pause_log is None else str(pause_log),
            clock=clock,
        )
        self.stdout: IO[str] | None = None
        self._files: list[IO[bytes]] = []
        stdin = os.open(os.devnull, os.O_RDONLY)
        try:
            if stream:
                read, write = os.pipe()
                try:
                    self.child = fork_server().spawn(job, stdin, write, write)
                finally:
                    os.close(write)
                self.stdout = open(read, encoding="utf-8")  # noqa: SIM115 - closed by communicate
            else:
                self._files = [tempfile.TemporaryFile(), tempfile.TemporaryFile()]  # noqa: SIM115
                out, err = (f.fileno() for f in self._files)
                self.child = fork_server().spawn(job, stdin, out, err)
        finally:
            os.close(stdin)
        self.pid = self.child.pid

    @property
    def returncode(self) -> int | None:
        return self.child.returncode

    def poll(self) -> int | None:
        return self.child.poll()

    def wait(self, timeout: float | None = None) -> int:
        try:
            return self.child.wait(timeout)
        except subprocess.TimeoutExpired:
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0) from None

    def kill(self) -> None:
        self.child.kill()

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        """Wait for the end; (stdout, stderr).  With ``stream``: (the rest of
        the combined output, "")."""
        if self.stdout is not None:
            rest = self.stdout.read()  # EOF when the child (the writer) ends
            self.wait(timeout)
            self.stdout.close()
            return rest, ""
        try:
            self.wait(timeout)
        except BaseException:  # a timeout, or a pause handler that failed
            self.kill()
            for f in self._files:
                f.close()
            raise
        texts = []
        for f in self._files:
            f.seek(0)
            texts.append(f.read().decode("utf-8", errors="replace"))
            f.close()
        return texts[0], texts[1]


def start_cli(*argv: str, **options: Any) -> CliProcess:
    """Start ``deployctl ARGV`` (see :class:`CliProcess` for the options)."""
    return CliProcess(argv, **options)


def run_cli(
    *argv: str,
    cwd: Path | str = ROOT,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    crash: CrashPoint | str | None = None,
    fake_world: Path | str | None = None,
    trace: Path | str | None = None,
    clock: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``deployctl ARGV`` to the end, with this process's environment plus ``env``."""
    proc = CliProcess(
        argv, cwd=cwd, env=env, crash=crash, fake_world=fake_world, trace=trace, clock=clock
    )
    out, err = proc.communicate(timeout)
    assert proc.returncode is not None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


class _Stops:
    """What to do when the fork server says the child stopped: make sure it
    is a new stop, at the next point the child logged, and that the child is
    really halted; then ``on_pause(point)``.  True: continue the child."""

    def __init__(self, pid: int, log: Path, on_pause: Callable[[str], None]) -> None:
        self.pid = pid
        self.log = log
        self.on_pause = on_pause
        self.handled = 0

    def __call__(self) -> bool:
        points = self.log.read_text(encoding="utf-8").split() if self.log.exists() else []
        if len(points) == self.handled or not _halted(self.pid):
            return False  # told twice of one stop: the next report is the real one
        if len(points) != self.handled + 1:
            raise RuntimeError(f"child {self.pid} went past a pause: {points[self.handled :]}")
        self.handled += 1
        self.on_pause(points[-1])
        return True


def _halted(pid: int) -> bool:
    """Is ``pid`` stopped (``T`` in /proc/PID/stat)?"""
    with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0] in ("T", "t")


def run_paused(
    *argv: str,
    points: Collection[str],
    on_pause: Callable[[str], None],
    cwd: Path | str = ROOT,
    env: Mapping[str, str] | None = None,
    fake_world: Path | str | None = None,
    timeout: float = 120,
    clock: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``deployctl ARGV`` to the end, stopped at each of ``points``
    (:class:`~deployctl.testing.crash.Pauser`): ``on_pause(point)`` runs
    while every thread of the process is halted, so what it reads of the
    world and the state is what a SIGKILL there would have left."""
    with tempfile.TemporaryDirectory(prefix="deployctl-pauses-") as folder:
        log = Path(folder, "points")
        proc = CliProcess(
            argv,
            cwd=cwd,
            env=env,
            fake_world=fake_world,
            pause=points,
            pause_log=log,
            clock=clock,
        )
        proc.child.on_stop = _Stops(proc.pid, log, on_pause)
        out, err = proc.communicate(timeout)
        if log.exists():
            err += "\n[paused at] " + " ".join(log.read_text(encoding="utf-8").split())

    assert proc.returncode is not None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def run_fake(
    folder: Path, *argv: str, crash: CrashPoint | str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``deployctl ARGV`` in ``folder`` against the fake world ``folder/world.json``
    (:func:`deployctl.testing.fake.new_world`)."""
    return run_cli(
        *argv, cwd=folder, fake_world=folder / "world.json", crash=crash, timeout=timeout
    )


class Running:
    """``deployctl ARGV`` started in the background, read line by line."""

    def __init__(self, *argv: str, **options: Any) -> None:
        self.proc = CliProcess(argv, stream=True, **options)
        self.lines: list[str] = []

    def wait_for(self, text: str) -> None:
        """Block until a line of output contains ``text`` (fails if the process ends first)."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if text in line:
                return
        raise AssertionError(f"exited without printing {text!r}:\n{self.output}")

    def finish(self, timeout: float = 120) -> int:
        out, _ = self.proc.communicate(timeout=timeout)
        self.lines.append(out)
        assert self.proc.returncode is not None
        return self.proc.returncode

    @property
    def output(self) -> str:
        return "".join(self.lines)


def imported_modules(*argv: str) -> set[str]:
    """The modules a cold ``python -m deployctl ARGV`` imports (read from
    ``-X importtime``; a real interpreter, not the fork server, whose
    children inherit everything it preloaded).  The run must succeed."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "deployctl", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert lines, done.stderr
    return {line.rsplit("|", 1)[-1].strip() for line in lines}
