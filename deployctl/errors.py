"""One exception root; each subclass carries the data its handler needs.

The CLI maps these to exit codes in exactly one place (``cli.main``).
"""

from __future__ import annotations

from collections.abc import Sequence

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
        if isinstance(diagnostics, str):
            diagnostics = [Diagnostic(message=diagnostics)]
        self.diagnostics = tuple(diagnostics)
        super().__init__("\n".join(d.render() for d in self.diagnostics))


class CycleError(UserError):
    """The step graph has a cycle; the cycle is spelled out once."""

    def __init__(self, cycle: Sequence[str], file: str | None = None) -> None:
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


class LockLost(DeployctlError):
    """The lock this run took is no longer its own (taken over after an expired
    lease, or unlocked by hand): going on could race the new holder."""

    exit_code = EXIT_LOCKED

    def __init__(self, lock_id: str, holder: str, now_held_by: str) -> None:
        self.lock_id = lock_id
        super().__init__(
            f"lock {lock_id} is no longer held by {holder} ({now_held_by}); stopped "
            f"so as not to race another run; check with deployctl status, then resume"
        )


class JournalConflict(DeployctlError):
    """A journal record's place was already taken: two processes wrote one run."""

    def __init__(self, run_id: str, seq: int) -> None:
        self.run_id = run_id
        self.seq = seq
        super().__init__(
            f"run {run_id}: journal record {seq} was written by another process; two "
            f"processes are running this run at once (the lock should prevent that)"
        )


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
