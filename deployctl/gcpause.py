"""Pause the cyclic garbage collector around bulk work that builds no cycles.

Loading and compiling a plan build large acyclic trees (YAML nodes, marks,
data, steps).  The collector can never free any of it, but rescans it again
and again as it grows: a third of the time of a 10,000-step plan.  Reference
counting still frees everything as usual; only the cycle scan waits.

What the work leaves behind is long-lived (the manifests, the plan), so on
the way out it goes straight to the oldest generation: left young, the
first allocations after the pause would scan all of it, then again as it
aged (0.3 s of CPU after loading and compiling 1,000 services).  It is
still scanned by the next full collection, so nothing is kept that a
collection would free.
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
        # freeze + unfreeze moves every tracked object to the oldest
        # generation without scanning it; skipped if someone else (a server
        # that forks, say) keeps objects frozen on purpose.
        if gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        gc.enable()
