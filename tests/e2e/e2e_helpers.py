"""Shared by the end-to-end tests: a handle on the moto server and a way to
run deployctl as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

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
