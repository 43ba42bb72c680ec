"""Secrets never reach output: over-redaction is reversible, a leak is not."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any


class Redactor:
    """Replaces each known secret value with a short hash, so a change still shows."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

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
