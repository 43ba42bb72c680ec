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
    url = f"http://{host}:{port}"
    handle = MotoServer(url, boto3.Session(region_name="us-east-1"))
    # Lambda invokes without Docker: a moto *server* takes its configuration
    # through /moto-api/config (there is no environment variable for it), and
    # must get it before any function exists, because the docker-less Lambda
    # keeps its functions apart.  The setting is global to this process (the
    # server is a thread of it), so the old value is put back at the end.
    before = handle.moto_api("config", method="GET")["lambda"]
    handle.moto_api("config", {"lambda": {"use_docker": False}})
    yield url
    handle.moto_api("config", {"lambda": before})
    server.stop()


@pytest.fixture
def moto_server(_server: str) -> Iterator[MotoServer]:
    """A clean moto world per test (one server for the session: starting one costs ~1 s)."""
    made = MotoServer(_server, boto3.Session(region_name="us-east-1"))
    made.reset()
    yield made
