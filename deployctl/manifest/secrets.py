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
from collections.abc import Mapping
from typing import Any

from deployctl.core.refs import REF, is_unresolved, strings_in

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


_SECRETISH = re.compile("|".join(re.escape(word) for word in SECRETISH))


def looks_secret(key: object) -> bool:
    """True if a var name or a param key looks like it holds a credential
    (``DB_PASSWORD``, ``X-Api-Key``, ``Authorization``...)."""
    return _SECRETISH.search(str(key).lower().replace("-", "_")) is not None


def credential_values(value: Any, *, literal_only: bool = False) -> list[str]:
    """Every non-empty string held under a credential-looking key of ``value``
    (a JSON-like tree), at any depth.

    ``literal_only`` skips strings that hold a ``${...}`` runtime reference:
    before the run their secret part is not known yet (the executor redacts
    the resolved value), and the plan shows the reference itself.
    """
    # The planner runs this over every step, so: one loop over a stack of
    # containers, plain type checks, and one verdict per distinct key.
    found: list[str] = []
    verdicts = _VERDICTS
    todo: list[Any] = [value]
    while todo:
        item = todo.pop()
        kind = type(item)
        if kind is list or kind is tuple:
            todo.extend(sub for sub in item if type(sub) in _CONTAINERS)
        elif kind is dict or isinstance(item, Mapping):
            for key, sub in item.items():
                secret = verdicts.get(key)
                if secret is None:
                    if len(verdicts) > _MAX_VERDICTS:
                        verdicts.clear()
                    secret = verdicts[key] = looks_secret(key)
                if secret:
                    found.extend(
                        text
                        for text in strings_in(sub)
                        if text and not (literal_only and is_unresolved(text))
                    )
                elif type(sub) in _CONTAINERS:
                    todo.append(sub)
    return found


_CONTAINERS = frozenset({dict, list, tuple})
_VERDICTS: dict[Any, bool] = {}  # key -> looks_secret(key); keys repeat on every step
_MAX_VERDICTS = 10_000


def secret_ref(ref: str) -> tuple[str, str] | None:
    """``(scheme, name)`` if the text inside ``${...}`` is a secret reference
    (``ssm:/db/password`` -> ``("ssm", "/db/password")``), else None."""
    scheme, colon, name = ref.strip().partition(":")
    if colon and scheme.strip() == SSM_SCHEME:
        return SSM_SCHEME, name.strip()
    return None


def secret_refs_in(value: Any) -> frozenset[tuple[str, str]]:
    """Every secret reference, ``(scheme, name)``, that ``value`` (a step's
    params as the plan writes them) holds."""
    return frozenset(
        found
        for text in strings_in(value)
        if is_unresolved(text)
        for m in REF.finditer(text)
        if (found := secret_ref(m.group(1))) is not None
    )


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
