"""moto's Step Functions for tests: run state machines in process, fast.

moto 5.2.5 runs ASL with an ANTLR parser written in Python: one parse of a
50-state canary takes 0.6 s, 2 s in a process that has parsed nothing yet
(ANTLR's prediction cache starts empty), and moto parses a definition again
on every ``CreateStateMachine``, ``UpdateStateMachine`` and
``StartExecution``.  :func:`memoized_asl_parser` parses each definition text
once and keeps the program it becomes (the components an execution runs,
and mutates) as a pickle: each parse hands out a fresh copy, so what moto
runs is unchanged.  Given a folder, the pickles are shared through it by
every process of a test session (the xdist workers): a definition is parsed
once per session, not once per worker.

moto also makes a new boto3 client for every task it runs (an aws-sdk task,
a Lambda invoke): two thirds of an equivalence case's CPU went into building
clients.  :func:`shared_task_clients` makes one per service, region and
endpoint instead; a client holds no state of the task that asked for it.

Executions run on moto's worker threads: :func:`wait_for_executions` joins
them, :func:`until` joins in short slices until a condition holds (an
execution parked on a task token never ends by itself).  No sleeps.
"""

from __future__ import annotations

import hashlib
import importlib
import pickle
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from deployctl import files

# The role a test's state machine runs as (moto checks only its shape).
ROLE = "arn:aws:iam::123456789012:role/deployctl-sfn"


# Executions a finished test left running: see abandon_executions.
_ABANDONED: set[threading.Thread] = set()


def _is_execution(thread: threading.Thread) -> bool:
    return (
        getattr(getattr(thread, "_target", None), "__name__", "") == "_execution_logic"
        and thread not in _ABANDONED
    )


def abandon_executions() -> None:
    """Let later waits skip every execution still running.  For a test's
    teardown: an execution parked on a task token that its test stopped
    keeps moto's thread waiting for the token, and the next test's
    :func:`wait_for_executions` would wait for it in vain."""
    _ABANDONED.update(t for t in threading.enumerate() if _is_execution(t))


def wait_for_executions(timeout: float = 20.0) -> None:
    """Join moto's execution threads: every execution has ended when this returns."""
    for thread in threading.enumerate():
        if _is_execution(thread):
            thread.join(timeout)
            assert not thread.is_alive(), "the execution did not end"


def until(condition: Callable[[], Any], timeout: float = 20.0) -> None:
    """Wait for ``condition()`` while an execution runs towards it."""
    waited = 0.0
    while not condition():
        threads = [t for t in threading.enumerate() if _is_execution(t)]
        assert threads and waited < timeout, "the condition never came true"
        threads[0].join(0.02)
        waited += 0.02


def _moto(module: str) -> Any:
    """A module of moto's ASL interpreter (untyped: read through Any)."""
    return importlib.import_module(f"moto.stepfunctions.parser.asl.{module}")


def _program(definition: str) -> Any:
    """moto's own parse: the parse tree, then the program built from it."""
    antlr4: Any = importlib.import_module("antlr4")
    parse = _moto("parse.asl_parser")
    listener = parse.SyntaxErrorListener()
    lexer = _moto("antlr.runtime.ASLLexer").ASLLexer(antlr4.InputStream(definition))
    parser = _moto("antlr.runtime.ASLParser").ASLParser(antlr4.CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(listener)
    tree = parser.state_machine()
    if listener.errors:
        raise parse.ASLParserException(errors=listener.errors)
    return _moto("parse.preprocessor").Preprocessor().visit(tree)


def _key(definition: str) -> str:
    return hashlib.sha256(definition.encode()).hexdigest()


class _Programs:
    """Each definition's program, pickled: here, and in ``folder`` if given."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.kept: dict[str, bytes] = {}
        self.lock = threading.Lock()

    def parse(self, definition: str) -> tuple[Any, None]:
        # moto 5.2.5 reads only the program: the parse tree (the second item)
        # is for the static analysers of its LocalStack provider, which moto
        # never calls.
        key = _key(definition)
        with self.lock:
            kept = self.kept.get(key) or self._read(key)
            if kept is None:
                kept = self.kept[key] = self._write(key, pickle.dumps(_program(definition)))
            return pickle.loads(kept), None  # noqa: S301 - our own pickle

    def _read(self, key: str) -> bytes | None:
        if self.folder is None:
            return None
        try:
            kept = self.kept[key] = (self.folder / key).read_bytes()
        except FileNotFoundError:
            return None
        return kept

    def _write(self, key: str, data: bytes) -> bytes:
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            files.replace_atomically(self.folder / key, data)  # whole, or not there
        return data


_PROGRAMS: dict[Path | None, _Programs] = {}


@contextmanager
def memoized_asl_parser(folder: Path | None = None) -> Iterator[None]:
    """Within: moto parses each definition text once (see the module
    docstring): once per process, or once per session for the processes
    that share ``folder``."""
    programs = _PROGRAMS.setdefault(folder, _Programs(folder))
    parser = _moto("parse.asl_parser").AmazonStateLanguageParser
    real = parser.__dict__["parse"]
    parser.parse = staticmethod(programs.parse)
    try:
        yield
    finally:
        parser.parse = real


# AWS SDK integration service names that are not boto3's (moto 5.2.5 hands the
# integration's name to boto3.client, which knows ELBv2 only as "elbv2").
SDK_TO_BOTO = {"elasticloadbalancingv2": "elbv2"}


@contextmanager
def sdk_service_names() -> Iterator[None]:
    """Within: moto's aws-sdk tasks reach the services whose integration name
    is not boto3's (``arn:aws:states:::aws-sdk:elasticloadbalancingv2:...``);
    without it moto fails them with ``Unknown service``."""
    service = _moto("component.state.exec.state_task.service.state_task_service")
    names: dict[str, str] = service.StateTaskService._SERVICE_NAME_SFN_TO_BOTO_OVERRIDES
    added = {k: v for k, v in SDK_TO_BOTO.items() if k not in names}
    names.update(added)
    try:
        yield
    finally:
        for k in added:
            names.pop(k, None)


@contextmanager
def shared_task_clients() -> Iterator[None]:
    """Within: moto's tasks share one boto3 client per service and region
    (and per the way moto reaches itself: intercepted in process, or over
    HTTP to its server), where moto made one per task."""
    made: dict[tuple[Any, ...], Any] = {}
    lock = threading.Lock()
    utils = _moto("utils.boto_client")
    stubber: Any = importlib.import_module("moto.core.models").botocore_stubber
    real = utils.boto_client_for

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        # moto reads the credentials of neither: the key is what shapes a client.
        key = (region, service, bool(stubber.enabled))
        with lock:
            client = made.get(key)
            if client is None:
                client = made[key] = real(region, service, state_credentials)
            return client

    users: list[Any] = [
        module
        for name, module in list(sys.modules.items())
        if name.startswith("moto.stepfunctions.parser")
        and getattr(module, "boto_client_for", None) is real
    ]
    for module in users:
        module.boto_client_for = boto_client_for
    try:
        yield
    finally:
        for module in users:
            module.boto_client_for = real
