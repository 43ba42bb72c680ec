"""The executor's interfaces, now in :mod:`deployctl.core` (the ports in
:mod:`deployctl.core.ports`, the statuses and record types in
:mod:`deployctl.core.status`), under the names the executor has always used
for them.  See docs/architecture.md.
"""

from __future__ import annotations

from deployctl.core import status
from deployctl.core.ports import (
    Clock,
    MetricsSource,
    MultiReporter,
    NextAction,
    Outcome,
    Reporter,
    RunObserver,
    StepResult,
)
from deployctl.core.status import RecordType, RunStatus

__all__ = [
    "Clock",
    "MetricsSource",
    "MultiReporter",
    "NextAction",
    "Outcome",
    "Reporter",
    "RunObserver",
    "StepResult",
]

# Run statuses.  RESUMABLE ones are picked up again by ``apply`` on the same
# plan.  RUNNING, the status a run is created with, is the journal contract's.
RUNNING = RunStatus.RUNNING
WAITING = RunStatus.WAITING
INTERRUPTED = RunStatus.INTERRUPTED
SUCCEEDED = RunStatus.SUCCEEDED
ROLLED_BACK = RunStatus.ROLLED_BACK
ROLLBACK_INCOMPLETE = RunStatus.ROLLBACK_INCOMPLETE
FAILED_RUN = RunStatus.FAILED  # failed with rollback.automatic: false; rolled back only by hand
ABANDONED = RunStatus.ABANDONED
STALE = RunStatus.STALE  # a reviewed run found a resource changed by someone else; stopped
RESUMABLE = status.RESUMABLE
ENDED = status.ENDED

# Journal record types.  Forward work: intent -> done (mutating) or done alone
# (reads); observed is the reconciliation of an intent left without a done.
RUN_STARTED = RecordType.RUN_STARTED
RESUMED = RecordType.RESUMED
INTENT = RecordType.INTENT
OBSERVED = RecordType.OBSERVED
DONE = RecordType.DONE
WAITED = RecordType.WAITED
FAILED = RecordType.FAILED
CHECK = RecordType.CHECK
WAITING_RECORD = RecordType.WAITING
APPROVED = RecordType.APPROVED
STEP_INTERRUPTED = RecordType.INTERRUPTED
ROLLBACK_STARTED = RecordType.ROLLBACK_STARTED
UNDO_INTENT = RecordType.UNDO_INTENT
UNDONE = RecordType.UNDONE
UNDO_FAILED = RecordType.UNDO_FAILED
DRAINED = RecordType.DRAINED  # the side an undo moved traffic off had time to finish its requests
ROLLBACK_STOPPED = RecordType.ROLLBACK_STOPPED
RUN_FINISHED = RecordType.RUN_FINISHED
# A run from a saved plan: the fingerprints reviewed, then each stop on a changed resource.
REVIEWED = RecordType.REVIEWED
STALE_RECORD = RecordType.STALE
