"""Shared by the end-to-end tests: a handle on the moto server, deployctl as a
real subprocess, and a local HTTP server for smoke tests to reach."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class MotoServer:
    url: str
    session: boto3.Session

    def client(self, service: str, region: str = "us-east-1") -> Any:
        # botocore gzips large PutMetricData bodies, which the moto server
        # fails to read back (BadGzipFile): send them plain.
        config = Config(disable_request_compression=True)
        return self.session.client(
            service, region_name=region, endpoint_url=self.url, config=config
        )

    def moto_api(self, path: str, body: Any = None, method: str = "POST") -> Any:
        """Call moto's own control API (``/moto-api/...``); the JSON answer, if any."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}/moto-api/{path}", data=data, method=method)
        with urllib.request.urlopen(request, timeout=10) as answer:
            text = answer.read()
        return json.loads(text) if text else None

    def reset(self) -> None:
        self.moto_api("reset")

    def lambda_answers(self, *results: Any, region: str = "us-east-1") -> None:
        """Queue what the next invokes of the docker-less Lambda return, one each."""
        answers = [json.dumps(r) for r in results]
        self.moto_api("static/lambda-simple/response", {"results": answers, "region": region})


def _env(env: dict[str, str] | None) -> dict[str, str]:
    return {**os.environ, **(env or {})}


def run_cli(
    *argv: str, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m deployctl ARGV`` with the test's fake credentials."""
    return subprocess.run(
        [sys.executable, "-m", "deployctl", *argv],
        cwd=cwd,
        env=_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Running:
    """``python -m deployctl ARGV`` started in the background, read line by line."""

    def __init__(self, *argv: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "deployctl", *argv],
            cwd=cwd,
            env=_env(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
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
        return self.proc.returncode

    @property
    def output(self) -> str:
        return "".join(self.lines)


def code_zip(body: str) -> bytes:
    """A Lambda deployment package holding ``handler.py``.  A fixed timestamp:
    the same code gives the same bytes and CodeSha256, so plan output is stable."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(zipfile.ZipInfo("handler.py", date_time=(2024, 1, 20, 0, 0, 0)), body)
    return buf.getvalue()


@dataclass
class HttpSide:
    """A local web server standing in for one side of a blue/green pair.
    ``status`` is what every request gets; ``seen`` lists ``METHOD path``."""

    status: int = 200
    seen: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)  # of each request
    base: str = ""


@contextmanager
def http_side(status: int = 200) -> Iterator[HttpSide]:
    side = HttpSide(status)

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            side.seen.append(f"{self.command} {self.path}")
            side.headers.append(dict(self.headers.items()))
            body = b"ok" if side.status < 400 else b"broken"
            code = 202 if self.command == "POST" and side.status < 400 else side.status
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep the test output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    side.base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield side
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
