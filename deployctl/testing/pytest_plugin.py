"""deployctl's pytest fixtures; the suite loads them from tests/conftest.py
(``pytest_plugins = ["deployctl.testing.pytest_plugin"]``).

- ``moto_server``: a clean moto world per test on a moto server shared by
  the session (or by each xdist worker), for CLI runs with ``--endpoint-url``;
- ``aws``, ``clients``, ``calls``: in-process moto (``mock_aws``), the
  actions' clients on one boto3 session, and a count of their API calls;
  ``fraud_lambda``: plans/fraud-or-not.yaml's world there;
- ``clock``: a :class:`~deployctl.testing.clock.VirtualClock`;
- ``world``, ``make_executor``: a fake world and executors on it.

A module that defines a fixture of the same name overrides these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from deployctl.actions.aws import Clients
from deployctl.actions.registry import Backend
from deployctl.execute.runner import Executor
from deployctl.testing.aws import REGION, Calls
from deployctl.testing.cli import stop_fork_server
from deployctl.testing.clock import VirtualClock
from deployctl.testing.fake import FakeMetrics, FakeWorld, fake_registry
from deployctl.testing.moto import MotoServer
from deployctl.testing.moto import moto_server as start_moto_server
from deployctl.testing.plans import Recorder
from deployctl.testing.worlds import fraud


def pytest_unconfigure(config: pytest.Config) -> None:
    stop_fork_server()


# -- moto ------------------------------------------------------------------------


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


@pytest.fixture
def aws() -> Iterator[None]:
    """In-process moto; the docker-less Lambda answers invokes from a queue
    (:func:`deployctl.testing.aws.queue_lambda_answers`)."""
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
