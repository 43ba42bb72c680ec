"""Closed sets of the journal and the executor, as ``StrEnum``s: a member is
the very string the journal, the run table and the JSON output hold, so old
journals read back unchanged (see docs/architecture.md).

``"failed"`` is a run status, a step status and a record type: three members
of three enums, one string.
"""

from __future__ import annotations

import enum


class RunStatus(enum.StrEnum):
    RUNNING = "running"  # the status a run is created with
    WAITING = "waiting"
    INTERRUPTED = "interrupted"
    SUCCEEDED = "succeeded"
    ROLLED_BACK = "rolled_back"
    ROLLBACK_INCOMPLETE = "rollback_incomplete"
    FAILED = "failed"  # failed with rollback.automatic: false; rolled back only by hand
    ABANDONED = "abandoned"
    STALE = "stale"  # a reviewed run found a resource changed by someone else; stopped


# Picked up again by ``apply`` on the same plan.
RESUMABLE = frozenset(
    {RunStatus.RUNNING, RunStatus.WAITING, RunStatus.INTERRUPTED, RunStatus.STALE}
)
ENDED = frozenset(
    {
        RunStatus.SUCCEEDED,
        RunStatus.ROLLED_BACK,
        RunStatus.ROLLBACK_INCOMPLETE,
        RunStatus.FAILED,
    }
)


class StepStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"  # an intent with no done record yet (in flight, or cut by a crash)
    DONE = "done"
    FAILED = "failed"
    WAITING = "waiting"
    INTERRUPTED = "interrupted"
    UNDOING = "undoing"
    UNDONE = "undone"
    UNDO_FAILED = "undo_failed"
    STALE = "stale"  # a reviewed run stopped before this step: its resource changed


class RecordType(enum.StrEnum):
    """Journal record types.  Forward work: intent -> done (mutating) or done
    alone (reads); observed is the reconciliation of an intent left without a done."""

    RUN_STARTED = "run_started"
    RESUMED = "resumed"
    INTENT = "intent"
    OBSERVED = "observed"
    DONE = "done"
    WAITED = "waited"
    FAILED = "failed"
    CHECK = "check"
    WAITING = "waiting"
    APPROVED = "approved"
    INTERRUPTED = "interrupted"
    ROLLBACK_STARTED = "rollback_started"
    UNDO_INTENT = "undo_intent"
    UNDONE = "undone"
    UNDO_FAILED = "undo_failed"
    DRAINED = "drained"  # the side an undo moved traffic off had time to finish its requests
    ROLLBACK_STOPPED = "rollback_stopped"
    RUN_FINISHED = "run_finished"
    # A run from a saved plan: the fingerprints reviewed, then each stop on a changed resource.
    REVIEWED = "reviewed"
    STALE = "stale"


class Verdict(enum.StrEnum):
    """One gate check's result (:class:`deployctl.core.ports.CheckResult`)."""

    PASS = "pass"  # noqa: S105 - a check verdict, not a password
    FAIL = "fail"
    NO_DATA = "no_data"
