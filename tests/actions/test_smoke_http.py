"""``smoke.http`` against a local ``http.server`` on 127.0.0.1 in a thread;
waits between retries go through a virtual clock."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from deployctl.actions.smoke import register
from deployctl.core.ports import FAIL, PASS, Registry
from deployctl.testing.aws import request
from deployctl.testing.clock import VirtualClock


class Server(http.server.ThreadingHTTPServer):
    """Answers from a script: a list of (status, body), the last one repeating."""

    script: list[tuple[int, str]]
    seen: list[str]


class Handler(http.server.BaseHTTPRequestHandler):
    server: Server

    def _answer(self) -> None:
        self.server.seen.append(f"{self.command} {self.path}")
        status, body = self.server.script[0]
        if len(self.server.script) > 1:
            self.server.script.pop(0)
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_HEAD = do_POST = _answer

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server(("127.0.0.1", 0), Handler)
    srv.script, srv.seen = [(200, "ok")], []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join()


@pytest.fixture
def registry() -> Registry:
    reg = Registry()
    register(reg)
    return reg


def check(registry: Registry, url: str, clock: VirtualClock | None = None, **params: Any) -> Any:
    p = {"url": url, "method": "GET", "expect_status": 200, "timeout": 5.0, "retries": 0, **params}
    return registry.get("smoke.http").check(request("smoke.http", p, clock))


def url(server: Server, path: str = "/health") -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def test_passes_on_the_expected_status_and_body(registry: Registry, server: Server) -> None:
    server.script = [(200, '{"status": "ok"}')]
    result = check(registry, url(server), body_contains="ok")
    assert result.status == PASS
    assert server.seen == ["GET /health"]


def test_fails_on_a_wrong_status_and_says_which(registry: Registry, server: Server) -> None:
    server.script = [(503, "down")]
    result = check(registry, url(server))
    assert result.status == FAIL
    assert "status 503, expected 200" in result.detail


def test_fails_when_the_body_lacks_the_marker(registry: Registry, server: Server) -> None:
    server.script = [(200, "degraded")]
    result = check(registry, url(server), body_contains="ok")
    assert result.status == FAIL
    assert "does not contain 'ok'" in result.detail


def test_an_expected_non_2xx_status_passes(registry: Registry, server: Server) -> None:
    server.script = [(404, "nope")]
    assert check(registry, url(server), expect_status=404).status == PASS


def test_retries_wait_on_the_clock_and_pass_once_healthy(
    registry: Registry, server: Server, clock: VirtualClock
) -> None:
    server.script = [(502, "starting"), (502, "starting"), (200, "ok")]
    result = check(registry, url(server), clock, retries=3)
    assert result.status == PASS
    assert clock.slept == [1.0, 2.0]
    assert len(server.seen) == 3


def test_gives_up_after_the_retries_with_the_last_reason(
    registry: Registry, server: Server, clock: VirtualClock
) -> None:
    server.script = [(500, "boom")]
    result = check(registry, url(server), clock, retries=2)
    assert result.status == FAIL
    assert "after 3 attempt(s)" in result.detail
    assert "status 500" in result.detail
    assert clock.slept == [1.0, 2.0]


def test_uses_the_method_given(registry: Registry, server: Server) -> None:
    check(registry, url(server), method="head")
    assert server.seen == ["HEAD /health"]


def test_a_refused_connection_fails_clearly(registry: Registry) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = check(registry, f"http://127.0.0.1:{port}/")
    assert result.status == FAIL
    assert "refused" in result.detail.lower()


def test_a_silent_server_times_out(registry: Registry) -> None:
    with socket.socket() as s:  # accepts connections, never answers
        s.bind(("127.0.0.1", 0))
        s.listen()
        result = check(registry, f"http://127.0.0.1:{s.getsockname()[1]}/", timeout=0.2)
    assert result.status == FAIL
    assert "within 0.2s" in result.detail or "timed out" in result.detail


def test_refuses_schemes_other_than_http(registry: Registry) -> None:
    result = check(registry, "file:///etc/passwd")
    assert result.status == FAIL
    assert "only http and https" in result.detail


def test_an_interrupt_stops_the_retries(registry: Registry, server: Server) -> None:
    server.script = [(500, "boom")]
    p = {"url": url(server), "retries": 5, "timeout": 5.0}
    req = request("smoke.http", p)
    req.cancel.set()
    result = registry.get("smoke.http").check(req)
    assert result.status == FAIL
    assert "interrupted" in result.detail
    assert len(server.seen) == 1
