"""Defaults more than one layer needs (see docs/architecture.md)."""

from __future__ import annotations

# Where runs, locks and journals live unless --state-dir says otherwise.
DEFAULT_STATE_DIR = ".deployctl"
