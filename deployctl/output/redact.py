"""Secrets never reach output: over-redaction is reversible, a leak is not."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from typing import Any


def _ordered(secrets: Iterable[str]) -> list[str]:
    # Longest first, so a secret that contains another is replaced whole.
    return sorted({s for s in secrets if s}, key=len, reverse=True)


class Redactor:
    """Replaces each known secret value with a short hash, so a change still shows."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = _ordered(secrets)
        self._lock = threading.Lock()

    def add(self, *secrets: str) -> None:
        """Also redact ``secrets`` from now on (values read at run time).

        The list is replaced whole, never changed in place, so a thread
        redacting at the same moment sees the old list or the new one.
        """
        with self._lock:
            if all(s in self.secrets for s in secrets if s):
                return
            self.secrets = _ordered([*self.secrets, *secrets])

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                digest = hashlib.sha256(secret.encode()).hexdigest()[:8]
                text = text.replace(secret, f"<redacted:{digest}>")
        return text

    def data(self, value: Any) -> Any:
        """``value`` (JSON-like) with every string redacted.

        Redact before serialising: once JSON escapes a quote or a backslash in
        a secret, the escaped text no longer matches it.
        """
        if not self.secrets:
            return value
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {self(str(k)): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value
