"""The clocks, now in :mod:`deployctl.core.clock` (re-exported here)."""

from __future__ import annotations

from deployctl.core.clock import RealClock, ScaledClock

__all__ = ["RealClock", "ScaledClock"]
