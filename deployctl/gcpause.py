"""Pause the cyclic garbage collector around bulk work that builds no cycles.

Loading and compiling a plan build large acyclic trees (YAML nodes, marks,
data, steps).  The collector can never free any of it, but rescans it again
and again as it grows: a third of the time of a 10,000-step plan.  Reference
counting still frees everything as usual; only the cycle scan waits.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    if not gc.isenabled():  # nested, or the caller already paused it
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
