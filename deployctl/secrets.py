"""Secrets never leave the process: the one redaction rule, and the one list
of every secret this process has learnt.

Over-redaction is reversible, a leak is not.  A secret is matched as written
and in the forms an output may give it: Python escapes (``repr``, ``!r``,
``ascii``), JSON string escapes, URL encoding and base64, at each of base64's
three byte alignments, so a secret inside a longer encoded text is found too.
Redact first, then cut or format: a cut secret no longer matches.

Everything that leaves the process goes through :class:`Redactor`: plan
output and saved plans, journal records and stored plans (SQLite and
DynamoDB), progress lines, reports and notifications, and, through
:func:`guarded_streams`, whatever the process writes to stdout and stderr and
its crash log, redacted with every secret it has learnt (:func:`remember`).
"""

from __future__ import annotations

import base64
import json
import re
import sys
import threading
import urllib.parse
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO, cast

MIN_ENCODED = 8  # a base64 form shorter than this is too likely to occur by chance


def _python_escapes(secret: str) -> set[str]:
    """How ``repr``/``ascii`` write ``secret`` inside quotes, whichever quote
    they picked (that depends on the whole text around it)."""
    out = set()
    for text in (repr(secret)[1:-1], ascii(secret)[1:-1]):
        plain = text.replace("\\'", "'").replace('\\"', '"')
        out |= {plain, plain.replace("'", "\\'"), plain.replace('"', '\\"')}
    return out


def _base64_cores(secret: bytes) -> set[str]:
    """The part of the base64 text that is the same wherever ``secret`` sits
    in the encoded bytes: one per alignment, in both alphabets."""
    out = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + secret).decode("ascii")
        start = -(-offset * 8 // 6)  # the first character made of the secret's bits only
        end = (offset + len(secret)) * 8 // 6
        core = encoded[start:end]
        if len(core) >= MIN_ENCODED:
            out |= {core, core.replace("+", "-").replace("/", "_")}
    return out


def forms(secret: str) -> set[str]:
    """Every spelling of ``secret`` the redactor looks for."""
    found = {secret, *_python_escapes(secret)}
    found |= {json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    found |= {
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote(secret),
        urllib.parse.quote_plus(secret),
    }
    found |= {json.dumps(form)[1:-1] for form in list(found)}  # an escape, escaped again
    found |= _base64_cores(secret.encode())
    return {form for form in found if form}


def token(secret: str) -> str:
    """What a secret becomes in records and plans: a short hash, so a change
    still shows without the value."""
    import hashlib  # noqa: PLC0415 - loading OpenSSL costs ~5 ms; most runs hash nothing

    return f"<redacted:{hashlib.sha256(secret.encode()).hexdigest()[:8]}>"


class Redactor:
    """Replaces every known secret, in any of its :func:`forms`, with its
    :func:`token`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets: list[str] = []
        self._table: dict[str, str] = {}
        self._lock = threading.Lock()
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Also redact ``secrets`` from now on (values read at run time).

        The lists are replaced whole, never changed in place, so a thread
        redacting at the same moment sees the old ones or the new ones.
        """
        with self._lock:
            new = {s for s in secrets if s and s not in self._table}
            if not new:
                return
            table = dict(self._table)
            for secret in sorted(new, key=len):  # a longer secret's forms win a clash
                replacement = token(secret)
                table.update(dict.fromkeys(forms(secret), replacement))
                table[secret] = replacement
            self._table = table
            self.secrets = sorted({*self.secrets, *new}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        table = self._table
        present = [form for form in table if form in text]
        if not present:
            return text
        # One pass, longest form first: a replacement is never searched again.
        present.sort(key=len, reverse=True)
        pattern = re.compile("|".join(map(re.escape, present)))
        return pattern.sub(lambda m: table[m.group()], text)

    def data(self, value: Any) -> Any:
        """``value`` (JSON-like) with every string redacted: redact before
        serialising, so the serialised text never holds a secret."""
        if not self._table:
            return value
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {self(str(k)): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value


_process = Redactor()  # every secret this process has learnt; reset by guarded_streams


def remember(*secrets: str) -> None:
    """Hide ``secrets`` from everything this process writes from now on."""
    _process.add(*secrets)


def redact(text: str) -> str:
    """``text`` with every secret this process has learnt redacted."""
    return _process(text)


class _Redacting:
    """A text stream that redacts what it is given, then passes it on."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(_process(text))

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def guarded_streams() -> Iterator[None]:
    """Run one command with stdout and stderr redacted, starting with no
    secret known (a command learns its own: :func:`remember`)."""
    global _process  # noqa: PLW0603 - one list per command, as per process
    _process = Redactor()
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = cast(TextIO, _Redacting(out)), cast(TextIO, _Redacting(err))
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err
