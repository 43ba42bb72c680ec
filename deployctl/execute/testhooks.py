"""Test-only fault injection: the crash matrix's kill switch.

``DEPLOYCTL_TEST_KILL_AFTER_RECORD=K`` makes the executor SIGKILL its own
process right after the K-th journal record it wrote is durable, whatever
backend it runs (the fake world or real AWS).  Nothing in deployctl sets it;
the test suite does, to show that a run cut after any record resumes to the
same final state with nothing applied twice.  Unset (always, outside tests),
it adds nothing.
"""

from __future__ import annotations

import os
import signal

from deployctl.execute.api import Reporter
from deployctl.state.api import Record

KILL_ENV = "DEPLOYCTL_TEST_KILL_AFTER_RECORD"


class KillAfterRecords(Reporter):
    """SIGKILL this process right after the K-th durable journal record."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.seen = 0

    def record(self, record: Record) -> None:
        self.seen += 1
        if self.seen >= self.count:
            os.kill(os.getpid(), signal.SIGKILL)


def from_env() -> tuple[Reporter, ...]:
    """The kill switch if the environment asks for one, else nothing."""
    count = os.environ.get(KILL_ENV, "")
    return (KillAfterRecords(int(count)),) if count else ()
