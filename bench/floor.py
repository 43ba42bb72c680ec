"""The floor under bench/executor.py's (b) on this machine: the same walk
with the least Python a journaled executor can run.

Three regions, each a root, three branches of eight steps and a join; each
step a 50 ms ``time.sleep`` between two journal records, like (b).  What is
kept from deployctl is what its promise costs: every intent is durable
before its call, a step's done record before its dependents' intents, and
records written at the same moment share one commit (group commit): one
``INSERT`` of the batch into the journal's own table, opened as deployctl
opens it (WAL, ``synchronous=FULL``), on the same disk.
What is left out is everything else: no schedule, state, references,
reporters, lock or lease; a branch is a thread that runs its steps in a
loop, started by its root's thread at the fan-out.

So (b) over this ratio, measured in the same minutes, is what deployctl's
executor adds; the floor itself is this machine's (its fsync after an idle
call, its thread wake-ups, the interpreter), which no executor in Python
with this journal gets under.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Sequence

# (imported by bench/executor.py, which puts the repository on sys.path)
from deployctl.state.sqlitedb import open_database, release

CALL_SECONDS = 0.050
REGIONS, BRANCHES, DEPTH = 3, 3, 8
CRITICAL = (1 + DEPTH + 1) * CALL_SECONDS  # root, a branch, join

_ROW = "(?, ?, ?, 1, ?, ?, ?)"
Row = tuple[str, str, str]  # type, step, data


class GroupJournal:
    """Records durable on return; whoever finds no commit running commits
    everything queued (its own rows among them) in one statement."""

    def __init__(self, state_dir: str) -> None:
        # deployctl's own opening: the journal's schema, WAL, synchronous=FULL.
        self.db = open_database(state_dir)
        self.conn = self.db.conn
        self._cond = threading.Condition()
        self._queue: list[Row] = []
        self._writing = False
        self._started = self._finished = 0  # commits

    def commit(self, rows: Sequence[Row]) -> None:
        self.wait(self.enqueue(rows))

    def enqueue(self, rows: Sequence[Row]) -> int:
        """Queue ``rows`` after everything queued before; the commit that
        will hold them (:meth:`wait` for it)."""
        with self._cond:
            self._queue.extend(rows)
            return self._started + 1  # the next commit to start takes them

    def wait(self, ticket: int) -> None:
        with self._cond:
            while self._finished < ticket:
                if self._writing:
                    self._cond.wait()
                    continue
                self._writing = True
                self._started += 1
                batch, self._queue = self._queue, []
                self._cond.release()
                try:
                    self._insert(batch)
                finally:
                    self._cond.acquire()
                    self._writing = False
                    self._finished += 1
                    self._cond.notify_all()

    def _insert(self, batch: list[Row]) -> None:
        args: list[object] = []
        now = time.time()
        for kind, step, data in batch:
            args += ("run", kind, step, "t" * 32, now, data)
        self.conn.execute(
            "INSERT INTO records (run_id, type, step_id, attempt, token, at, data) "
            f"VALUES {', '.join([_ROW] * len(batch))}",
            args,
        )

    def close(self) -> None:
        release(self.db)


def _intent(step: str, region: str) -> Row:
    return ("intent", step, json.dumps({"params": {"v": region}}, sort_keys=True))


def _done(step: str, region: str) -> Row:
    return ("done", step, json.dumps({"outputs": {"region": region}}, sort_keys=True))


def walk(journal: GroupJournal) -> float:
    """One walk; seconds from the run's first record to its last."""
    finished = threading.Event()
    regions_left = [REGIONS]
    lock = threading.Lock()

    def region(r: int) -> None:
        name = f"zz-floor-{r}"
        root = f"{name}/publish"
        first: list[Row] = [("run_started", "", "{}")] if r == 0 else []
        journal.commit([*first, _intent(root, name)])
        time.sleep(CALL_SECONDS)
        branches_left = [BRANCHES]

        def branch(b: int, before: list[Row]) -> None:
            for d in range(DEPTH):
                step = f"{name}/b{b}/s{d}"
                journal.commit([*before, _intent(step, name)])
                time.sleep(CALL_SECONDS)
                before = [_done(step, name)]
            with lock:  # the last branch to end starts the join
                branches_left[0] -= 1
                last = branches_left[0] == 0
                # Queued before the last branch queues the join's intent.
                ticket = 0 if last else journal.enqueue(before)
            if not last:
                journal.wait(ticket)
                return
            join = f"{name}/join"
            journal.commit([*before, _intent(join, name)])
            time.sleep(CALL_SECONDS)
            with lock:
                regions_left[0] -= 1
                end = regions_left[0] == 0
            done = [_done(join, name)]
            journal.commit([*done, ("run_finished", "", "{}")] if end else done)
            if end:
                finished.set()

        for b in range(1, BRANCHES):
            threading.Thread(target=branch, args=(b, [])).start()
        branch(0, [_done(root, name)])

    start = time.perf_counter()
    for r in range(REGIONS):
        threading.Thread(target=region, args=(r,)).start()
    finished.wait()
    return time.perf_counter() - start


def ratio(folder: str) -> float:
    """One walk in a fresh journal under ``folder``: makespan / critical path."""
    with tempfile.TemporaryDirectory(dir=folder, prefix=".bench-floor-") as state:
        journal = GroupJournal(state)
        try:
            return walk(journal) / CRITICAL
        finally:
            journal.close()
