"""End-to-end fixtures: a moto server on 127.0.0.1 and deployctl as a real
subprocess pointed at it with --endpoint-url."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from e2e_helpers import MotoServer
from moto.server import ThreadedMotoServer


@pytest.fixture(scope="session")
def _server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto_server(_server: str) -> Iterator[MotoServer]:
    """A clean moto world per test (one server for the session: starting one costs ~1 s)."""
    made = MotoServer(_server, boto3.Session(region_name="us-east-1"))
    made.reset()
    yield made
