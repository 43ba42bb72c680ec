"""Where the journal and the locks live: the state store ``--state-dir`` names.

A plain path is the local SQLite file (:mod:`deployctl.state.sqlite`);
``dynamodb://TABLE[?region=R]`` is one DynamoDB table shared by every CI
machine (:mod:`deployctl.state.dynamodb`, imported only when named, so
commands on a local state never import boto3).  The executor and the
``runs``, ``status`` and ``unlock`` commands see a
:class:`~deployctl.state.api.StateStore` and nothing else.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from deployctl.core.defaults import DEFAULT_STATE_DIR
from deployctl.errors import UserError
from deployctl.state.api import StateStore

DYNAMODB = "dynamodb://"
LOCAL_DEFAULT = DEFAULT_STATE_DIR


def is_shared(spec: str) -> bool:
    return spec.startswith(DYNAMODB)


def local_dir(spec: str) -> str:
    """A directory for local files (``crash.log``, the sandbox's journal): the
    state directory itself, or the default one when the state is in a table."""
    return LOCAL_DEFAULT if is_shared(spec) else spec


def open_store(
    spec: str,
    *,
    profile: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
) -> StateStore:
    """The store ``--state-dir`` names.  ``?region=`` in a DynamoDB spec wins over
    ``region`` (``--region``), which wins over the profile's region."""
    if not is_shared(spec):
        from deployctl.state.sqlite import SqliteStore  # noqa: PLC0415

        return SqliteStore(spec)
    parts = urlsplit(spec)
    query = parse_qs(parts.query)
    unknown = sorted(set(query) - {"region"})
    if not parts.netloc or parts.path not in ("", "/") or unknown:
        raise UserError(
            f"--state-dir {spec}: expected dynamodb://TABLE or dynamodb://TABLE?region=REGION"
        )
    from deployctl.state.dynamodb import DynamoStore  # noqa: PLC0415 - boto3 only when used

    return DynamoStore(
        parts.netloc,
        profile=profile,
        region=query.get("region", [region])[-1],
        endpoint_url=endpoint_url,
    )
