"""End-to-end fixtures: a moto server on 127.0.0.1 and deployctl as a real
subprocess pointed at it with --endpoint-url."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class MotoServer:
    url: str
    session: boto3.Session

    def client(self, service: str, region: str = "us-east-1") -> Any:
        return self.session.client(service, region_name=region, endpoint_url=self.url)

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass


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


def run_cli(
    *argv: str, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m deployctl ARGV`` with the test's fake credentials."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "deployctl", *argv],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
