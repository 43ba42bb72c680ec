"""Facts about a compiled plan for reviewers, now in :mod:`deployctl.core.plan`."""

from __future__ import annotations

from deployctl.core.plan import Summary, summarize

__all__ = ["Summary", "summarize"]
