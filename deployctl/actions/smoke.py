"""``smoke.http``: an HTTP check with the standard library only.

One check is up to ``retries + 1`` requests; between them it waits through
``request.clock`` (1 s, 2 s, 4 s... capped at 30 s), so tests never sleep and
an interrupt cuts the wait short.  Any status but ``expect_status``, a body
without ``body_contains``, a timeout, or a refused connection fails it with
a message saying which.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable

from deployctl import __version__
from deployctl.actions.common import CheckAction, truncate
from deployctl.core.kinds import StepKind
from deployctl.core.params import SmokeHttpParams
from deployctl.core.ports import FAIL, PASS, CheckResult, Registry, StepRequest

MAX_BODY = 1 << 20  # enough to find a marker; a health page is not a download
MAX_WAIT = 30.0


def probe(p: SmokeHttpParams, redact: Callable[[str], str] = str) -> str | None:
    """One request; None if it passed, else why it did not (the body it quotes
    redacted with ``redact`` before it is cut)."""
    url = str(p.url)
    if not url.startswith(("http://", "https://")):
        return f"{url}: only http and https URLs are checked"
    expect = int(p.expect_status or 200)
    wanted = p.body_contains
    # The scheme was checked above: no file: or ftp: URLs reach urllib.
    headers = {"User-Agent": f"deployctl/{__version__} smoke"}
    headers.update({str(k): str(v) for k, v in (p.headers or {}).items()})
    req = urllib.request.Request(  # noqa: S310
        url,
        method=str(p.method or "GET").upper(),
        headers=headers,
    )
    timeout = float(p.timeout or 10.0)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            status, body = resp.status, resp.read(MAX_BODY)
    except urllib.error.HTTPError as exc:  # a non-2xx answer is still an answer
        status, body = exc.code, exc.read(MAX_BODY)
    except TimeoutError:
        return f"{req.method} {url}: no answer within {timeout:g}s"
    except urllib.error.URLError as exc:
        return f"{req.method} {url}: {exc.reason}"
    except OSError as exc:
        return f"{req.method} {url}: {exc}"
    text = redact(body.decode("utf-8", "replace"))
    if status != expect:
        return f"{req.method} {url}: status {status}, expected {expect}: {truncate(text, 300)!r}"
    if wanted and str(wanted) not in text:
        return f"{req.method} {url}: body does not contain {wanted!r}: {truncate(text, 300)!r}"
    return None


class SmokeHttp(CheckAction):
    """``smoke.http``: pass when one of ``retries + 1`` requests answers as expected."""

    def check(self, request: StepRequest) -> CheckResult:
        p = SmokeHttpParams.from_params(request.params)
        retries = max(0, int(p.retries or 0))
        why = ""
        for attempt in range(retries + 1):
            failed = probe(p, request.redact)
            if failed is None:
                return CheckResult(PASS, detail=f"{p.url} answered as expected")
            why = failed
            if attempt < retries:
                wait = min(2.0**attempt, MAX_WAIT)
                if not request.clock.sleep(wait, request.cancel):
                    return CheckResult(FAIL, detail=f"interrupted; last failure: {why}")
        return CheckResult(FAIL, detail=f"{why} (after {retries + 1} attempt(s))")


def register(registry: Registry, clients: object = None) -> None:
    """``clients`` is unused (no AWS here); accepted so every module registers alike."""
    registry.register(StepKind.SMOKE_HTTP, SmokeHttp())
