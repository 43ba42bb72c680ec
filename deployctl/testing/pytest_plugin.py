"""deployctl's pytest fixtures; the suite loads them from tests/conftest.py
(``pytest_plugins = ["deployctl.testing.pytest_plugin"]``).

- ``moto_server``: a clean moto world per test on a moto server shared by
  the session (or by each xdist worker), for CLI runs with ``--endpoint-url``;
- ``aws``, ``clients``, ``calls``: in-process moto (``mock_aws``), the
  actions' clients on one boto3 session, and a count of their API calls;
  ``fraud_lambda``: plans/fraud-or-not.yaml's world there;
- ``cut_runs``: the crash matrices' paused runs (:mod:`deployctl.testing.cuts`);
- ``clock``: a :class:`~deployctl.testing.clock.VirtualClock`;
- ``world``, ``make_executor``: a fake world and executors on it.

A module that defines a fixture of the same name overrides these.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from deployctl.actions.aws import Clients
from deployctl.actions.registry import Backend
from deployctl.execute.runner import Executor
from deployctl.testing.aws import REGION, Calls, share_botocore_loader
from deployctl.testing.cli import stop_fork_server
from deployctl.testing.clock import VirtualClock
from deployctl.testing.cuts import CutRuns
from deployctl.testing.fake import FakeMetrics, FakeWorld, fake_registry
from deployctl.testing.moto import MotoServer
from deployctl.testing.moto import moto_server as start_moto_server
from deployctl.testing.plans import Recorder
from deployctl.testing.worlds import fraud

_OWN_BASETEMP = pytest.StashKey[str]()


SHM = Path("/dev/shm")  # noqa: S108 - a fresh mkdtemp folder in it, not a fixed name


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Temporary directories on tmpfs when there is one (unless ``--basetemp``
    says where): every journal record and fake-world save is fsynced, which
    costs milliseconds on a disk and nothing in memory.  A crash test kills
    a process, not the machine, so the page cache loses nothing the disk
    would keep.  One fresh folder per session (other sessions on the machine
    keep theirs); xdist workers get subfolders of it."""
    controller = not hasattr(config, "workerinput")
    share_botocore_loader()
    if controller:
        config.pluginmanager.register(SlowReport(), "deployctl-slow-report")
        config.pluginmanager.register(SafetyReport(), "deployctl-safety-report")
    mine = config.option.basetemp is None and controller
    if mine and _roomy(SHM):
        config.option.basetemp = tempfile.mkdtemp(prefix="deployctl-pytest-", dir=SHM)
        config.stash[_OWN_BASETEMP] = config.option.basetemp


def _roomy(path: Path, need: int = 1 << 30) -> bool:
    """A writable tmpfs with room to spare: a container's default 64 MB
    /dev/shm would fill up, so the suite then stays on the usual temp dir."""
    if not (path.is_dir() and os.access(path, os.W_OK)):
        return False
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize >= need


class SlowReport:
    """Names the tests over 10 s that lack the ``slow`` marker, after the
    run (a hint: a loaded machine stretches every test, so it never fails)."""

    seconds = 10.0

    def __init__(self) -> None:
        self.found: list[tuple[float, str]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        slow = report.when == "call" and report.duration > self.seconds
        if slow and "slow" not in report.keywords:
            self.found.append((report.duration, report.nodeid))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.found:
            terminalreporter.section("over 10 s and not marked slow")
            for seconds, nodeid in sorted(self.found, reverse=True):
                terminalreporter.write_line(f"{seconds:6.1f}s {nodeid}")


class SafetyReport:
    """The safety-invariant harness's count of cases and violations
    (tests/safety), summed over every test that recorded one with
    ``record_property("safety", {...})``: the property reaches this process
    with each test's report, from every xdist worker."""

    def __init__(self) -> None:
        self.cases: Counter[str] = Counter()
        self.violations: Counter[str] = Counter()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for key, value in report.user_properties:
            if key == "safety" and isinstance(value, dict):
                self.cases[value["example"]] += value["cases"]
                self.violations[value["example"]] += value["violations"]

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.cases:
            each = ", ".join(f"{name} {n}" for name, n in self.cases.items())
            terminalreporter.write_line(
                f"safety invariants: {sum(self.cases.values())} cases ({each}), "
                f"{sum(self.violations.values())} violations"
            )


def pytest_unconfigure(config: pytest.Config) -> None:
    stop_fork_server()
    own = config.stash.get(_OWN_BASETEMP, None)
    if own:
        shutil.rmtree(own, ignore_errors=True)


# -- moto ------------------------------------------------------------------------


@pytest.fixture
def busy_switching() -> Iterator[None]:
    """Threads switch every microsecond: a check-then-write gap shows up in
    most races instead of one in thousands."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


@pytest.fixture(scope="session")
def moto_server_url() -> Iterator[str]:
    """One moto server for the session: starting one costs about a second."""
    with start_moto_server() as url:
        yield url


@pytest.fixture(scope="session")
def _moto_handle(moto_server_url: str) -> MotoServer:
    # Explicit fake keys: session fixtures run before the per-test environment.
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    return MotoServer(moto_server_url, session)


@pytest.fixture
def moto_server(_moto_handle: MotoServer) -> MotoServer:
    """The session's moto server, emptied for this test."""
    _moto_handle.reset()
    return _moto_handle


@pytest.fixture(scope="session")
def cut_runs(tmp_path_factory: pytest.TempPathFactory) -> CutRuns:
    """The crash matrices' paused runs in this process (:mod:`deployctl.testing.cuts`)."""
    # xdist gives each worker a folder in the session's: shared by all of them.
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    claims = tmp_path_factory.getbasetemp().parent if worker else None
    return CutRuns(tmp_path_factory.mktemp, claims)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """In-process moto; the docker-less Lambda answers invokes from a queue
    (:func:`deployctl.testing.aws.queue_lambda_answers`)."""
    # EC2 instances (ALB targets) need no sample AMIs: loading them costs a second.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with mock_aws(config={"lambda": {"use_docker": False}}):
        yield


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def clients(aws: None, calls: Calls) -> Clients:
    """The actions' clients on in-process moto, every API call counted in ``calls``."""
    session = boto3.Session(region_name=REGION)
    # Clients copy the session's hooks when created: register before any exists.
    session.events.register("before-call.*.*", calls)
    return Clients(session=session, max_attempts=3)


@pytest.fixture
def fraud_lambda(clients: Clients) -> Any:
    """plans/fraud-or-not.yaml's world on in-process moto (version 1 live, the
    new code in S3, invokes answering 200); the Lambda client."""
    fraud.build(clients)
    fraud.answer_invokes()
    return clients.client("lambda", REGION)


# -- executor on the fake world -----------------------------------------------------


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def world(tmp_path: Path) -> FakeWorld:
    return FakeWorld(str(tmp_path / "world.json"))


@pytest.fixture
def make_executor(
    tmp_path: Path, world: FakeWorld, clock: VirtualClock
) -> Iterator[Callable[..., Executor]]:
    """``make(**kw)``: an executor on ``world`` and ``clock`` with its state
    under tmp_path; the reporter defaults to a :class:`Recorder`."""
    made: list[Executor] = []

    def make(**kw: Any) -> Executor:
        backend = Backend(fake_registry(world), clock, FakeMetrics(world))
        kw.setdefault("reporter", Recorder())
        executor = Executor(str(tmp_path / "state"), backend, **kw)
        made.append(executor)
        return executor

    yield make
    for executor in made:
        executor.close()
