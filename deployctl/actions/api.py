"""The action interface, now in :mod:`deployctl.core.ports` (re-exported here
for plugins written against ``deployctl.actions.api``).  See docs/architecture.md."""

from __future__ import annotations

from deployctl.core.ports import (
    FAIL,
    NO_DATA,
    PASS,
    Action,
    CheckResult,
    Observation,
    Preview,
    Read,
    Register,
    Registry,
    ResourceState,
    SecretSource,
    StepRequest,
)

__all__ = [
    "FAIL",
    "NO_DATA",
    "PASS",
    "Action",
    "CheckResult",
    "Observation",
    "Preview",
    "Read",
    "Register",
    "Registry",
    "ResourceState",
    "SecretSource",
    "StepRequest",
]
