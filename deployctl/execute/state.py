"""A run's state, folded from its journal records.  The journal is the truth;
this is only the view of it that resume, rollback and ``status`` share."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from deployctl.core.records import Record
from deployctl.core.status import StepStatus
from deployctl.execute import api

PENDING = StepStatus.PENDING
RUNNING = StepStatus.RUNNING  # an intent with no done record yet (in flight, or cut by a crash)
DONE = StepStatus.DONE
FAILED = StepStatus.FAILED
WAITING = StepStatus.WAITING
INTERRUPTED = StepStatus.INTERRUPTED
UNDOING = StepStatus.UNDOING
UNDONE = StepStatus.UNDONE
UNDO_FAILED = StepStatus.UNDO_FAILED


def token_for(run_id: str, step_id: str) -> str:
    """Stable for (run, step) across attempts, so a provider-side idempotency
    key (a ClientToken) also dedups a re-send after a crash."""
    return hashlib.sha256(f"{run_id}/{step_id}".encode()).hexdigest()[:32]


@dataclass
class StepState:
    status: str = PENDING  # a StepStatus
    attempt: int = 0
    intents: int = 0  # intents ever written: any one means observe before re-sending
    params: dict[str, Any] | None = None  # resolved params of the last intent
    outputs: dict[str, Any] = field(default_factory=dict)
    done_seq: int | None = None  # completion order, for rollback
    waited: bool = False
    approved_by: str | None = None
    started: float | None = None
    finished: float | None = None
    checks: int = 0
    last_check: dict[str, Any] | None = None
    error: str | None = None
    reason: str | None = None  # why it waits
    # Reviewed runs: what the step's resources looked like right after it ran
    # (key -> {"fingerprint", "display"}), so the next step on them knows.
    seen: dict[str, dict[str, str]] = field(default_factory=dict)
    # What the step replaced, read before its first intent (Action.before):
    # undo gets it under the outputs, so a reconciled step still knows it.
    before: dict[str, Any] = field(default_factory=dict)
    stale: str | None = None  # why a reviewed run stopped before this step (not sent)
    # Seconds an undone step's old side still has to drain (rollback waits them).
    drain_left: float = 0.0

    def undo_outputs(self) -> dict[str, Any]:
        """What undo is given: the outputs, over what the step replaced."""
        return {**self.before, **self.outputs}

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "attempts": self.attempt,
            "started": self.started,
            "finished": self.finished,
            "outputs": dict(self.outputs),
            "checks": self.checks,
            "last_check": self.last_check,
            "error": self.error,
            "waiting_reason": self.reason,
            "approved_by": self.approved_by,
            "stale": self.stale,
        }


@dataclass
class RunState:
    steps: dict[str, StepState]
    rollback_reason: str | None = None
    rollback_stopped: str | None = None
    final_status: str | None = None
    # A run from a saved plan: key -> {"fingerprint", "display"} at review.
    reviewed: dict[str, dict[str, str]] | None = None
    reviewed_at: float = 0.0  # wall clock of that review
    reviewed_seq: int = 0  # journal position of that review: later steps' views win
    last_at: float = 0.0  # when the newest record was written: a resumed run was unwatched since

    def step(self, step_id: str) -> StepState:
        st = self.steps.get(step_id)
        if st is None:  # not setdefault: it would build a StepState on every call
            st = self.steps[step_id] = StepState()
        return st

    def completed(self) -> list[str]:
        """Steps whose effect is still live (done, or an undo that did not
        finish), in the order they completed."""
        live = (DONE, UNDOING, UNDO_FAILED)
        done = [(s.done_seq, sid) for sid, s in self.steps.items() if s.status in live]
        return [sid for seq, sid in sorted(done, key=lambda item: item[0] or 0)]

    def waiting(self) -> list[str]:
        return [sid for sid, s in self.steps.items() if s.status == WAITING]


def fold(step_ids: Iterable[str], records: Iterable[Record]) -> RunState:
    state = RunState({sid: StepState() for sid in step_ids})
    for rec in records:
        if rec.type != api.APPROVED:  # written by a person's command, not by a watching run
            state.last_at = max(state.last_at, rec.at)
        if rec.step_id is None:
            if rec.type == api.ROLLBACK_STARTED:
                state.rollback_reason = str(rec.data.get("reason", ""))
            elif rec.type == api.RUN_FINISHED:
                state.final_status = str(rec.data.get("status"))
            elif rec.type == api.REVIEWED:
                note_review(state, rec)
            continue
        st = state.step(rec.step_id)
        apply_record(st, rec)
        if rec.type == api.ROLLBACK_STOPPED:
            state.rollback_stopped = rec.step_id
    return state


def note_review(state: RunState, rec: Record) -> None:
    state.reviewed = dict(rec.data.get("resources", {}))
    state.reviewed_at = float(rec.data.get("at", 0.0))
    state.reviewed_seq = rec.seq


def apply_record(st: StepState, rec: Record) -> None:
    kind = rec.type
    if kind == api.INTENT:
        st.status, st.attempt = RUNNING, rec.attempt
        st.intents += 1
        st.params = dict(rec.data.get("params", {}))
        st.started = st.started or rec.at
        if not st.before:
            st.before = dict(rec.data.get("before") or {})
    elif kind == api.DONE:
        st.status, st.done_seq, st.finished = DONE, rec.seq, rec.at
        st.outputs = dict(rec.data.get("outputs", {}))
        st.seen = dict(rec.data.get("seen", {}))
        st.attempt = max(st.attempt, rec.attempt)
        if st.params is None:
            st.params = dict(rec.data.get("params", {}))
        st.started = st.started or rec.data.get("started") or rec.at
        st.error = st.reason = st.stale = None
    elif kind == api.STALE_RECORD:
        changed = rec.data.get("changed") or {}
        st.stale = "; ".join(
            f"{key}: {c['was']} -> {c['now']}" for key, c in sorted(changed.items())
        )
    elif kind == api.WAITED:
        st.waited = True
    elif kind == api.FAILED:
        st.status, st.error, st.finished = FAILED, str(rec.data.get("error")), rec.at
        st.attempt = max(st.attempt, rec.attempt)
    elif kind == api.CHECK:
        st.checks += 1
        st.last_check = dict(rec.data)
        st.started = st.started or rec.data.get("window_start") or rec.at
    elif kind == api.WAITING_RECORD:
        st.status, st.reason = WAITING, str(rec.data.get("reason", ""))
    elif kind == api.APPROVED:
        st.approved_by = str(rec.data.get("by", "?"))
    elif kind == api.STEP_INTERRUPTED:
        if st.status != DONE:
            st.status = INTERRUPTED
    elif kind == api.UNDO_INTENT:
        st.status = UNDOING
    elif kind == api.UNDONE:
        st.status = UNDONE
        st.drain_left = float(rec.data.get("drain_seconds") or 0.0)
    elif kind == api.DRAINED:
        st.drain_left = 0.0
    elif kind == api.UNDO_FAILED:
        st.status, st.error = UNDO_FAILED, str(rec.data.get("error"))
