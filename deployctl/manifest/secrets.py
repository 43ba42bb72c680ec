"""What counts as a secret in a plan: shared by the loader, the planner and the
executor, so all three agree.

- Credential-looking names: a var or a param key containing ``password``,
  ``token``, ``authorization``... (:data:`SECRETISH`).  Their string values
  are redacted in every output.
- ``${ssm:/path/to/param}``: an SSM parameter (normally a SecureString) read
  by the executor right before the action that needs it.  The plan, the
  plan output and the journal keep the reference text; only the request
  handed to the action holds the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

SECRETISH = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "credential",
    "private_key",
    "api_key",
    "apikey",
    "access_key",
    "authorization",
)

SSM_SCHEME = "ssm"
# SSM parameter names: letters, digits, '_', '.', '-' and '/' for the hierarchy;
# deployctl asks for the full path (no relative names), with an optional
# ':version' or ':label' selector that GetParameter understands.
_SSM_NAME = re.compile(r"^/[A-Za-z0-9_.\-/]*[A-Za-z0-9_.\-](:[A-Za-z0-9_.\-]+)?$")
SSM_MAX_NAME = 2048


def looks_secret(key: object) -> bool:
    """True if a var name or a param key looks like it holds a credential
    (``DB_PASSWORD``, ``X-Api-Key``, ``Authorization``...)."""
    name = str(key).lower().replace("-", "_")
    return any(word in name for word in SECRETISH)


def credential_values(value: Any, *, literal_only: bool = False) -> Iterator[str]:
    """Every non-empty string held under a credential-looking key of ``value``
    (a JSON-like tree), at any depth.

    ``literal_only`` skips strings that hold a ``${...}`` runtime reference:
    before the run their secret part is not known yet (the executor redacts
    the resolved value), and the plan shows the reference itself.
    """

    def under(item: Any) -> Iterator[str]:
        if isinstance(item, str):
            if item and not (literal_only and "${" in item):
                yield item
        elif isinstance(item, Mapping):
            for sub in item.values():
                yield from under(sub)
        elif isinstance(item, list | tuple):
            for sub in item:
                yield from under(sub)

    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from (
                under(item)
                if looks_secret(key)
                else credential_values(item, literal_only=literal_only)
            )
    elif isinstance(value, list | tuple):
        for item in value:
            yield from credential_values(item, literal_only=literal_only)


def secret_ref(ref: str) -> tuple[str, str] | None:
    """``(scheme, name)`` if the text inside ``${...}`` is a secret reference
    (``ssm:/db/password`` -> ``("ssm", "/db/password")``), else None."""
    scheme, colon, name = ref.strip().partition(":")
    if colon and scheme.strip() == SSM_SCHEME:
        return SSM_SCHEME, name.strip()
    return None


def ssm_name_problem(name: str) -> str | None:
    """Why ``name`` is not a usable SSM parameter path, or None if it is."""
    if not name:
        return "the parameter path is empty"
    if not name.startswith("/"):
        return f"{name!r} is not a full path: it must start with '/'"
    if len(name) > SSM_MAX_NAME:
        return f"the parameter path is longer than {SSM_MAX_NAME} characters"
    if "//" in name:
        return f"{name!r} has an empty path segment ('//')"
    if not _SSM_NAME.match(name):
        return (
            f"{name!r} is not a parameter path: use letters, digits, '_', '.', '-' and '/' "
            "(and an optional ':version' or ':label')"
        )
    return None
