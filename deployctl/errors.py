"""One exception root; each subclass carries the data its handler needs.

The CLI maps these to exit codes in exactly one place (``cli.main``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deployctl.diagnostics import Diagnostic

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_ROLLED_BACK = 3
EXIT_LOCKED = 4
EXIT_STALE = 5
EXIT_WAITING = 6
EXIT_ROLLBACK_INCOMPLETE = 7
EXIT_INTERRUPTED = 130


class DeployctlError(Exception):
    """Root of every error deployctl raises on purpose."""

    exit_code = EXIT_ERROR


class UserError(DeployctlError):
    """Bad input: shown as one line per diagnostic, never a traceback."""

    def __init__(self, diagnostics: Sequence[Diagnostic] | str) -> None:
        # Imported here: `deployctl --version` raises none, and diagnostics
        # brings dataclasses (and inspect: ~15 ms) with it.
        from deployctl.diagnostics import Diagnostic  # noqa: PLC0415

        if isinstance(diagnostics, str):
            diagnostics = [Diagnostic(message=diagnostics)]
        self.diagnostics = tuple(diagnostics)
        super().__init__("\n".join(d.render() for d in self.diagnostics))


class CycleError(UserError):
    """The step graph has a cycle; the cycle is spelled out once."""

    def __init__(self, cycle: Sequence[str], file: str | None = None) -> None:
        from deployctl.diagnostics import Diagnostic  # noqa: PLC0415 - as in UserError

        self.cycle = tuple(cycle)
        loop = " -> ".join([*self.cycle, self.cycle[0]])
        super().__init__([Diagnostic(file=file, message=f"dependency cycle: {loop}")])


# --- execution ------------------------------------------------------------------


class LockHeld(DeployctlError):
    """Another run holds the (project, environment) lock and its lease is live."""

    exit_code = EXIT_LOCKED

    def __init__(
        self, lock_id: str, holder: str, pid: int, run_id: str, created: str, lease_until: str
    ) -> None:
        self.lock_id = lock_id
        self.holder = holder
        self.pid = pid
        self.run_id = run_id
        super().__init__(
            f"lock {lock_id} is held by {holder} (pid {pid}) for run {run_id} since {created}, "
            f"lease until {lease_until}; wait for it, or if that run is dead: "
            f"deployctl unlock {lock_id}"
        )


class StateError(DeployctlError):
    """The journal or the lock store cannot be used as promised: this process
    stops acting at once (no new step, no rollback, nothing more sent), and
    what the journal already holds stays as it is, so ``resume`` continues
    once the cause is fixed."""

    def __init__(self, message: str) -> None:
        self.message = message
        self.run_id: str | None = None
        super().__init__(message)

    def during(self, run_id: str, resume: str) -> StateError:
        """Name the run that stopped and the command that continues it."""
        if self.run_id is None:
            self.run_id = run_id
            self.args = (f"{self.message}; run {run_id} stopped, then: {resume}",)
        return self


class StateUnavailable(StateError):
    """The state store refused a read or a write (read-only or full disk, a
    file where the state directory should be, DynamoDB throttling past the
    retries, an unreachable endpoint)."""


class JournalDamaged(StateError):
    """The journal file is not a journal any more (empty, truncated, corrupt):
    deployctl will not guess at the runs it held."""


class LockLost(StateError):
    """The lock this run took is no longer its own (taken over after an expired
    lease, or unlocked by hand): going on could race the new holder."""

    exit_code = EXIT_LOCKED

    def __init__(self, lock_id: str, holder: str, now_held_by: str) -> None:
        self.lock_id = lock_id
        super().__init__(
            f"lock {lock_id} is no longer held by {holder} ({now_held_by}); stopped "
            f"so as not to race another run; check with deployctl status, then resume"
        )


class LeaseExpiring(StateError):
    """Too little of the lock's lease is left to send a call safely: another
    process may take the lock over before the call lands, so it is not sent."""

    exit_code = EXIT_LOCKED

    def __init__(self, lock_id: str, what: str, left: float, margin: float) -> None:
        self.lock_id = lock_id
        super().__init__(
            f"lock {lock_id}: {max(left, 0.0):.1f} s of the lease left, less than the "
            f"{margin:g} s a call needs, so {what} was not sent (this process was paused or "
            "could not renew the lease); check with deployctl status, then resume"
        )


class JournalConflict(StateError):
    """A journal record's place was taken again and again by other writers."""

    def __init__(self, run_id: str, seq: int) -> None:
        self.seq = seq
        super().__init__(
            f"run {run_id}: journal record {seq} was written by another process each time "
            "it was tried; two processes are writing this run at once"
        )


class ResourceChanged(DeployctlError):
    """A conditional write found a resource not as this run left it (a stale
    ``RevisionId``, weights other than journaled): nothing was sent, and the
    step stops the run as stale rather than overwrite someone else's change."""

    exit_code = EXIT_STALE

    def __init__(self, key: str, was: str, now: str) -> None:
        self.changed = {key: (was, now)}
        super().__init__(f"{key} changed underneath this run: {was} -> {now}; nothing was sent")


class StalePlan(DeployctlError):
    """The unfinished run was started from a different plan (digest mismatch)."""

    exit_code = EXIT_STALE

    def __init__(self, run_id: str, old_digest: str, new_digest: str) -> None:
        self.run_id = run_id
        self.old_digest = old_digest
        self.new_digest = new_digest
        super().__init__(
            f"run {run_id} is unfinished and was started from a different plan "
            f"({old_digest[:12]} != {new_digest[:12]}); finish it with the old plan, "
            f"or pass --abandon to give it up and start a new run"
        )


class UnknownAction(UserError):
    """A plan names step kinds no registered action handles."""

    def __init__(self, kinds: Sequence[str]) -> None:
        self.kinds = tuple(kinds)
        super().__init__(f"no action registered for step kind(s): {', '.join(self.kinds)}")
