"""Reviewed plans: ``plan --out FILE`` saves the compiled plan and a fingerprint
of every resource it read; ``apply FILE`` runs exactly that plan and refuses
(exit 5, before anything is sent) if a resource changed since the review.

The file holds the plan with secret values redacted and the digest of the
real plan; when it had secrets, ``apply`` compiles the source again with the
same variables and accepts it only if the digest matches.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from deployctl import files
from deployctl.core.plan import Plan
from deployctl.errors import StalePlan, UserError
from deployctl.execute.observe import Observed
from deployctl.execute.review import Review
from deployctl.execute.stored import plan_from_json
from deployctl.secrets import Redactor

FORMAT_VERSION = 1
KIND = "deployctl-saved-plan"


def _file_digest(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest()
    except OSError:
        return None


def save(path: str, plan: Plan, observed: Observed) -> None:
    redact = Redactor(plan.secret_values)
    data = {
        "format_version": FORMAT_VERSION,
        "kind": KIND,
        "source": plan.source,
        "digest": plan.digest,
        "manifest_digest": _file_digest(plan.source),
        "has_secrets": bool(plan.secret_values),
        "reviewed_at": time.time(),
        "plan": redact.data(plan.to_json(with_summary=False)),
        "resources": {
            key: {"fingerprint": state.fingerprint, "display": redact(state.display)}
            for key, state in sorted(observed.resources.items())
        },
    }
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    files.replace_atomically(path, text.encode("utf-8"))


def read(path: str) -> dict[str, Any] | None:
    """The saved plan in ``path``, or None if it is not one (a YAML plan, or
    no file: the loader says so).  Only a regular file within the cap is read."""
    if not os.path.exists(path):
        return None
    try:
        data = json.loads(files.read(path, files.MAX_SAVED_PLAN_BYTES, "plan file"))
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        return None
    if data.get("format_version") != FORMAT_VERSION:
        raise UserError(f"{path}: saved plan format {data.get('format_version')} is not supported")
    return data


def review(data: Mapping[str, Any]) -> Review:
    """The fingerprints to check each step against (files before ``reviewed_at`` count as oldest)."""
    return Review(float(data.get("reviewed_at", 0.0)), data["resources"])


def load(data: Mapping[str, Any], compile_source: Callable[[str], Plan]) -> Plan:
    """The plan the file was saved from (recompiled when secrets were redacted)."""
    if data["has_secrets"]:
        plan = compile_source(str(data["source"]))
        if plan.digest != data["digest"]:
            raise StalePlan("(saved plan)", str(data["digest"]), plan.digest)
        return plan
    return plan_from_json(dict(data["plan"]), str(data["source"]), str(data["digest"]))
