"""A local web server standing in for a service the plan's smoke tests reach."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class HttpSide:
    """One side of a blue/green pair.  ``status`` is what every request gets;
    ``seen`` lists ``METHOD path``, ``headers`` each request's headers."""

    status: int = 200
    seen: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    base: str = ""


@contextmanager
def http_side(status: int = 200) -> Iterator[HttpSide]:
    """Serve on 127.0.0.1 (a free port) while the block runs; ``base`` is its URL."""
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
