"""Run ids: what every journal backend names a new run."""

from __future__ import annotations

import secrets
import time


def new_run_id(now: float) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    return f"{stamp}-{secrets.token_hex(3)}"
