"""A pre-loaded fork server: the CLI as a real process without a cold start.

A cold ``python -m deployctl`` spends most of a second importing deployctl,
boto3 and botocore and parsing botocore's service models before it does
anything.  The end-to-end tests and the crash matrices start hundreds of
them, so a server process does that work once and forks a child per run.
The child is a real process with its own pid, working directory,
environment, stdin/stdout/stderr: it installs the test hooks it was asked
for (:mod:`deployctl.testing.crash`, the fake world), runs
``deployctl.cli.main(argv)`` and exits with its code.  A SIGKILL of the
child (a crash hook) reads as returncode -9, exactly like a subprocess.

Protocol, over a ``SOCK_SEQPACKET`` Unix socket (one message per packet):
the client sends the :class:`Job` as JSON with its three file descriptors
attached (stdin, stdout, stderr); the server answers ``{"pid": N}`` when the
child is forked, then ``{"returncode": R, "cpu": SECONDS}`` when it has
ended (its user + system CPU time, for measuring what a run costs).  A client
that hangs up first (a timeout) gets its child SIGKILLed.  A job with
``pause`` points stops itself there (:class:`~deployctl.testing.crash.Pauser`):
the server answers ``{"stopped": true}`` for each stop and sends the child
SIGCONT when the client writes ``c``.  The server exits
when its stdin closes, killing any child still running.

Run as ``python -P -m deployctl.testing.forkserver SOCKET``; the client side
is :class:`deployctl.testing.cli.ForkServer`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import os
import selectors
import signal
import socket
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any, NoReturn

PRELOAD = (
    "deployctl.cli",
    "deployctl.actions.aws",
    "deployctl.actions.builtin",
    "deployctl.actions.cloudwatch",
    "deployctl.actions.ecs_taskdef",
    "deployctl.actions.ecs_tasksets",
    "deployctl.notify",
    "deployctl.state.dynamodb",
    "deployctl.state.sqlite",
    "deployctl.execute.observe",
    "deployctl.preview.planfile",
    "deployctl.testing.fake",
    "deployctl.testing.crash",
    "deployctl.config",  # and what reading a config file imports:
    "tomllib",
    "deployctl.actions.sns",
    "encodings.idna",  # (botocore's first request to a host name)
    "boto3",
)
# Parsed once in the server and shared by every child's botocore sessions.
SERVICES = (
    "lambda",
    "s3",
    "cloudwatch",
    "elbv2",
    "cloudformation",
    "route53",
    "rds",
    "ssm",
    "dynamodb",
    "cloudfront",
    "appconfig",
    "sts",
    "ecs",
)
MAX_MESSAGE = 1 << 20


@dataclass(frozen=True)
class Job:
    """One CLI run.  ``crash`` is a :class:`~deployctl.testing.crash.CrashPoint`
    as text (``record:3``, ``call:7``, ``apply:2``); ``fake_world`` runs the
    execution commands against that fake world file instead of AWS; ``trace``
    is a file to append every journal record and AWS call to; ``pause``
    points stop the child there, each appended to ``pause_log`` first;
    ``clock="skipping"`` gives the AWS backend a
    :class:`~deployctl.testing.clock.SkippingClock` (waits take no time)."""

    argv: list[str]
    cwd: str
    env: dict[str, str] = field(default_factory=dict)
    crash: str | None = None
    fake_world: str | None = None
    trace: str | None = None
    pause: list[str] = field(default_factory=list)
    pause_log: str | None = None
    clock: str | None = None

    def encode(self) -> bytes:
        return json.dumps(dataclasses.asdict(self)).encode()

    @classmethod
    def decode(cls, data: bytes) -> Job:
        return cls(**json.loads(data))


# -- the child: hooks, then the CLI ------------------------------------------------


def _warm_loader() -> None:
    """Every session of this process and its children shares one botocore
    data loader (:func:`~deployctl.testing.aws.share_botocore_loader`):
    filled here with every model the tests' runs use."""
    import botocore.exceptions  # noqa: PLC0415 - after fork, already imported
    import botocore.session  # noqa: PLC0415

    from deployctl.testing.aws import share_botocore_loader  # noqa: PLC0415

    loader = share_botocore_loader()
    session = botocore.session.get_session()
    for service in SERVICES:
        session.get_service_model(service)
        # Every client loads its endpoint rules too: a third of a client's cost.
        loader.load_service_model(service, "endpoint-rule-set-1")
        # The actions' waiters and paginators: the first of each type a
        # child loads lists every service folder botocore ships (~400).
        for extra in ("waiters-2", "paginators-1"):
            with contextlib.suppress(botocore.exceptions.DataNotFoundError):
                loader.load_service_model(service, extra)
    loader.load_data("partitions")
    session.get_component("endpoint_resolver")


def _warm_sessions() -> None:
    """Make a botocore session cheap to build in every child: a third of a
    short run's CPU was building one (a resume that has little left to do).

    Each session registers ~130 built-in handlers and checks each one's
    signature (``inspect.getfullargspec``), and each session's event aliaser
    starts with an empty cache of alias names.  Both depend only on the
    handler and the event name: the answers are kept here, once, for every
    child to inherit.
    """
    import botocore.hooks  # noqa: PLC0415 - preloaded

    real_accepts = botocore.hooks.accepts_kwargs
    checked: dict[Any, bool] = {}

    def accepts_kwargs(func: Any) -> bool:
        try:
            known = checked.get(func)
        except TypeError:  # an unhashable callable: ask every time
            return bool(real_accepts(func))
        if known is None:
            known = checked[func] = bool(real_accepts(func))
        return known

    botocore.hooks.accepts_kwargs = accepts_kwargs

    aliaser = botocore.hooks.EventAliaser
    real_init = aliaser.__init__
    aliased: dict[str, str] = {}

    def init(self: Any, event_emitter: Any, event_aliases: Any = None) -> None:
        real_init(self, event_emitter, event_aliases)
        if event_aliases is None:  # botocore's own table: one cache for all
            self._alias_name_cache = aliased

    aliaser.__init__ = init


def _warm_client_classes() -> None:
    """Make each service's client class once, here, for every child to inherit.

    botocore builds a new class per client (a method and a docstring object
    per API operation): about two thirds of a client's cost, and a crash-matrix
    child makes a dozen clients.  The class depends only on the service model
    and the class-creation handlers botocore and boto3 register in every
    session (deployctl's and the tests' hooks are per instance, ``after-call``),
    so one class per service serves every session of every child.
    """
    import boto3  # noqa: PLC0415 - preloaded
    from botocore.client import ClientCreator  # noqa: PLC0415

    made: dict[str, type] = {}
    real = ClientCreator._create_client_class

    def create_client_class(self: Any, service_name: str, service_model: Any) -> type:
        cls = made.get(service_name)
        if cls is None:
            cls = made[service_name] = real(self, service_name, service_model)
        return cls

    ClientCreator._create_client_class = create_client_class
    session = boto3.Session(
        region_name="us-east-1", aws_access_key_id="warm", aws_secret_access_key="warm"
    )
    for service in SERVICES:
        client = session.client(service, endpoint_url="http://127.0.0.1:9")
        # Made on first use, then kept by the one factory every session
        # shares (share_botocore_loader): an action's ``except
        # client.exceptions.X`` would make them in each child.
        client.exceptions  # noqa: B018


def install_hooks(job: Job) -> None:
    """Wire the job's crash point, trace and backend into this process."""
    import botocore.session  # noqa: PLC0415

    from deployctl.actions import registry  # noqa: PLC0415
    from deployctl.testing.clock import SKIPPING, SkippingClock  # noqa: PLC0415
    from deployctl.testing.crash import (  # noqa: PLC0415
        CrashPoint,
        KillAfterCalls,
        KillAfterRecords,
        Pauser,
        Trace,
    )
    from deployctl.testing.fake import fake_backend  # noqa: PLC0415

    if job.clock not in (None, SKIPPING):
        raise ValueError(f"unknown clock {job.clock!r}")
    crash = CrashPoint.parse(job.crash) if job.crash else None
    trace = Trace(job.trace) if job.trace else None
    pauser = Pauser(job.pause, job.pause_log or os.devnull) if job.pause else None
    real_backend = registry.load_backend

    def load_backend(**kwargs: Any) -> registry.Backend:
        if job.fake_world:
            apply_at = crash.at if crash and crash.kind == "apply" else None
            after = pauser.after_apply if pauser else None
            backend = fake_backend(job.fake_world, crash_after_apply=apply_at, after_apply=after)
        else:
            backend = real_backend(**kwargs)
            if job.clock == SKIPPING:
                backend = dataclasses.replace(backend, clock=SkippingClock())
        hooks: list[Any] = [trace] if trace else []
        if pauser:
            hooks.append(pauser)
        if crash and crash.kind == "record":
            hooks.append(KillAfterRecords(crash.at))
        return dataclasses.replace(backend, reporters=(*backend.reporters, *hooks))

    registry.load_backend = load_backend

    real_session = botocore.session.get_session
    kill_after_call = KillAfterCalls(crash.at) if crash and crash.kind == "call" else None

    def get_session(env_vars: Any = None) -> Any:
        session = real_session(env_vars)
        # Clients copy the session's handlers when made: register first.
        if trace:
            session.register("after-call.*.*", trace.after_call)
        if kill_after_call:
            session.register("after-call.*.*", kill_after_call)
        if pauser:
            session.register("after-call.*.*", pauser.after_call)
        return session

    botocore.session.get_session = get_session


def _child(job: Job, fds: list[int]) -> NoReturn:
    code = 70
    try:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(job.cwd)
        os.environ.clear()
        os.environ.update(job.env)
        install_hooks(job)
        from deployctl.cli import main  # noqa: PLC0415

        code = main(job.argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                code = code or 120
    os._exit(code)


# -- the server loop -----------------------------------------------------------------


def _preload() -> None:
    """Import what every run needs and fill the caches children inherit."""
    for name in PRELOAD:
        importlib.import_module(name)
    from deployctl import commands  # noqa: PLC0415
    from deployctl.actions import registry  # noqa: PLC0415
    from deployctl.manifest import schema  # noqa: PLC0415

    commands.load(commands.NAMES)
    # The compiled JSON Schema of each kind of plan file (~14 ms a child).
    list(schema._fast_validators().values())
    registry.plugin_entry_points()  # a scan of every installed package's metadata


class Server:
    def __init__(self, path: str) -> None:
        _preload()
        _warm_sessions()
        _warm_loader()
        _warm_client_classes()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.listener.bind(path)
        self.listener.listen(64)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, ("accept", None))
        self.selector.register(sys.stdin, selectors.EVENT_READ, ("stop", None))
        # A child that stops itself (a pause point) is told by SIGCHLD: its
        # handler only wakes the loop, which asks each child (waitid).
        self.wakeup, wakeup = socket.socketpair()
        self.wakeup.setblocking(False)
        wakeup.setblocking(False)
        self._wakeup_writer = wakeup
        signal.set_wakeup_fd(wakeup.fileno())
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.selector.register(self.wakeup, selectors.EVENT_READ, ("sigchld", None))
        self.running: dict[int, tuple[socket.socket, int]] = {}  # pid -> (conn, pidfd)

    def serve(self) -> None:
        print("ready", flush=True)
        while True:
            for key, _ in self.selector.select():
                what, pid = key.data
                if what == "accept":
                    self._accept()
                elif what == "exited":
                    self._reap(pid)
                elif what == "hangup":
                    self._hangup(pid)
                elif what == "sigchld":
                    self._stopped()
                else:
                    self._stop()
                    return

    def _accept(self) -> None:
        conn, _ = self.listener.accept()
        message, fds, _, _ = socket.recv_fds(conn, MAX_MESSAGE, 3)
        if not message or len(fds) != 3:
            for fd in fds:
                os.close(fd)
            conn.close()
            return
        job = Job.decode(message)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            self.selector.close()
            self.listener.close()
            self.wakeup.close()
            self._wakeup_writer.close()
            conn.close()
            for other, pidfd in self.running.values():
                if other.fileno() >= 0:
                    other.close()
                os.close(pidfd)
            _child(job, fds)
        for fd in fds:
            os.close(fd)
        pidfd = os.pidfd_open(pid)
        self.running[pid] = (conn, pidfd)
        self.selector.register(pidfd, selectors.EVENT_READ, ("exited", pid))
        self.selector.register(conn, selectors.EVENT_READ, ("hangup", pid))
        self._send(conn, {"pid": pid})

    def _send(self, conn: socket.socket, message: dict[str, float]) -> None:
        # A client that is gone no longer needs the answer.
        with contextlib.suppress(OSError):
            conn.send(json.dumps(message).encode())

    def _reap(self, pid: int) -> None:
        conn, pidfd = self.running.pop(pid)
        _, status, usage = os.wait4(pid, 0)
        self.selector.unregister(pidfd)
        os.close(pidfd)
        if conn.fileno() >= 0:
            self.selector.unregister(conn)
            code = os.waitstatus_to_exitcode(status)
            self._send(conn, {"returncode": code, "cpu": usage.ru_utime + usage.ru_stime})
            conn.close()

    def _stopped(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self.wakeup.recv(512):
                pass
        for pid, (conn, _) in list(self.running.items()):
            try:
                stop = os.waitid(os.P_PID, pid, os.WSTOPPED | os.WNOHANG)
            except ChildProcessError:
                continue
            if stop is not None and conn.fileno() >= 0:
                self._send(conn, {"stopped": True})

    def _hangup(self, pid: int) -> None:
        conn, _ = self.running[pid]
        try:
            data = conn.recv(16)
        except OSError:
            data = b""
        if data:
            if b"c" in data:  # a stopped child's client is done with the stop
                os.kill(pid, signal.SIGCONT)
            return
        # The client gave up (a timeout, or it died): so does its child.
        self.selector.unregister(conn)
        conn.close()
        os.kill(pid, signal.SIGKILL)  # reaped when its pidfd turns readable

    def _stop(self) -> None:
        for pid in list(self.running):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def main(argv: list[str]) -> int:
    (path,) = argv
    Server(path).serve()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
