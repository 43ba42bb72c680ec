"""The compiled plan, now in :mod:`deployctl.core.plan` (re-exported here for
the planner's modules).  See docs/architecture.md."""

from __future__ import annotations

from deployctl.core.plan import Plan, Publish, Step, metric_json

__all__ = ["Plan", "Publish", "Step", "metric_json"]
