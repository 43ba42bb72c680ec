"""Feature-flag evaluation, the same answer in deployctl and in the application.

Order (the seed's): the allowlist wins, then ``enabled``, then a sticky bucket:
``sha256("<flag>:<user>")`` mapped to [0, 100) with 0.01 resolution, on when
below ``percentage``.  The bucket depends only on flag and user, so raising the
percentage only ever adds users; nobody is reshuffled.

A flag is a mapping as stored (``{"enabled": true, "percentage": 50,
"allowlist": ["user1"]}``) or a :class:`deployctl.manifest.model.Flag`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from deployctl.manifest.model import Flag

BUCKETS = 10_000  # 0.01% resolution


def bucket(flag_name: str, user_id: str) -> float:
    """Where ``user_id`` falls for ``flag_name``, in [0, 100)."""
    digest = hashlib.sha256(f"{flag_name}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS / (BUCKETS / 100)


def _fields(flag: Flag | Mapping[str, Any]) -> tuple[str, bool, float, tuple[str, ...]]:
    if isinstance(flag, Flag):
        return flag.name, flag.enabled, float(flag.percentage), flag.allowlist
    return (
        str(flag.get("name", "")),
        bool(flag.get("enabled", False)),
        float(flag.get("percentage", 100)),
        tuple(str(u) for u in flag.get("allowlist") or ()),
    )


def explain(
    flag: Flag | Mapping[str, Any],
    user_id: str,
    context: Mapping[str, Any] | None = None,
    *,
    name: str | None = None,
) -> tuple[bool, str]:
    """The decision and why, e.g. ``(True, "bucket 12.34 < 50%")``.

    ``context`` may carry ``bucket_by``: an attribute to hash instead of the
    user id (e.g. an account id, so a whole account flips together), looked
    up in ``context["attributes"]``.
    """
    flag_name, enabled, percentage, allowlist = _fields(flag)
    flag_name = name or flag_name
    if user_id in allowlist:
        return True, "in the allowlist"
    if not enabled:
        return False, "flag disabled"
    key = user_id
    if context and context.get("bucket_by"):
        attribute = str(context["bucket_by"])
        attributes = context.get("attributes") or {}
        if attribute not in attributes:
            return False, f"no {attribute!r} attribute to bucket by"
        key = str(attributes[attribute])
    where = bucket(flag_name, key)
    if where < percentage:
        return True, f"bucket {where:.2f} < {percentage:g}%"
    return False, f"bucket {where:.2f} >= {percentage:g}%"


def is_enabled(
    flag: Flag | Mapping[str, Any],
    user_id: str,
    context: Mapping[str, Any] | None = None,
    *,
    name: str | None = None,
) -> bool:
    """Whether ``flag`` is on for ``user_id`` (see :func:`explain`)."""
    return explain(flag, user_id, context, name=name)[0]
