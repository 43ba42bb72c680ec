"""How much the executor costs on top of the actions it runs.

(a) Overhead: 10,000 mutating no-op steps (100 independent chains of 100)
    through the real executor with the durable SQLite journal (WAL,
    synchronous=FULL: two fsynced records per step, intent and done).  The
    per-step overhead is wall time / steps.
(b) Makespan: a wide plan, 3 regions x 3 parallel branches of 8 steps between
    a per-region root and join, every step a simulated 50 ms call through the
    real clock.  Ratio = makespan / critical path (10 steps x 50 ms).
(c) The same overhead as (a) with the journal and the lock in DynamoDB
    (in-process moto, one step at a time): 200 no-op steps, each record
    one fenced TransactWriteItems; the time inside the DynamoDB calls is
    shown apart (moto's, not AWS's).
(d) Opening a journal that holds the 20,000 records of (a): the PRAGMA
    checks and ``quick_check`` every command pays once.
(e) What fencing adds to each SQLite commit: the same journal append with
    the lock row checked inside its ``INSERT`` and without.

The table is printed and written to the "## Executor" section of
``docs/performance.md``; other sections of that file are left as they are.

    python bench/executor.py              # best of 3
    python bench/executor.py --runs 1 --no-write
    python bench/executor.py --runs 1 --walks 40 --no-write   # (b) over 40 walks
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import floor  # noqa: E402
from perfdoc import DOC, write_section  # noqa: E402

from deployctl.actions.registry import Backend  # noqa: E402
from deployctl.core.clock import RealClock  # noqa: E402
from deployctl.core.plan import Plan, Step  # noqa: E402
from deployctl.core.ports import Action, Observation, Outcome, Registry, Reporter, StepRequest  # noqa: E402  # noqa: E402
from deployctl.execute.runner import Executor, Options  # noqa: E402
from deployctl.state.api import RunInfo, StateStore  # noqa: E402
from deployctl.state.sqlite import SqliteStore  # noqa: E402

SECTION = "## Executor"
CALL_SECONDS = 0.050
REGIONS, BRANCHES, DEPTH = 3, 3, 8
OVERHEAD_TARGET_MS = 1.0
RATIO_TARGET = 1.05
DYNAMO_STEPS = 200


class Noop(Action):
    def observe(self, request: StepRequest) -> Observation:
        return Observation(applied=False)

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        return {}


class SimulatedCall(Noop):
    """A 50 ms AWS call, waited through the clock like every wait in deployctl."""

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        request.clock.sleep(CALL_SECONDS)
        return {"region": request.step.region}


def noop_plan(steps: int, chains: int = 100) -> Plan:
    per = steps // chains
    out = []
    for c in range(chains):
        for n in range(per):
            deps = (f"c{c}/s{n - 1}",) if n else ()
            out.append(Step(id=f"c{c}/s{n}", kind="noop", description="no-op", deps=deps))
    return Plan("Deployment", "bench", "noop", "bench", tuple(out))


def wide_plan() -> Plan:
    out = []
    for r in range(REGIONS):
        region = f"zz-bench-{r}"
        root = f"{region}/publish"
        out.append(Step(id=root, kind="call", description="publish", region=region))
        ends = []
        for b in range(BRANCHES):
            prev = root
            for d in range(DEPTH):
                sid = f"{region}/b{b}/s{d}"
                out.append(
                    Step(
                        id=sid,
                        kind="call",
                        description="call",
                        region=region,
                        deps=(prev,),
                        params={"v": "${region}"},
                    )
                )
                prev = sid
            ends.append(prev)
        out.append(
            Step(
                id=f"{region}/join",
                kind="call",
                description="join",
                region=region,
                deps=tuple(ends),
            )
        )
    return Plan("Deployment", "bench", "wide", "bench", tuple(out))


def critical_steps(plan: Plan) -> int:
    depth: dict[str, int] = {}
    for step in plan.steps:
        depth[step.id] = 1 + max((depth[d] for d in step.deps), default=0)
    return max(depth.values())


class Stopwatch(Reporter):
    """From the run's first journal record to its last: the walk itself,
    without opening the database, taking the lock and creating the run."""

    def __init__(self) -> None:
        self.start = self.end = 0.0

    def run_started(self, run: RunInfo, plan: Plan, resumed: bool) -> None:
        self.start = time.perf_counter()

    def run_finished(self, outcome: Outcome) -> None:
        self.end = time.perf_counter()


def run(
    plan: Plan, parallelism: int, store: StateStore | None = None, keep: list[float] | None = None
) -> tuple[float, float]:
    """(whole apply, walk) wall seconds; ``keep`` gets the seconds it then
    takes to open the journal again (the state dir is gone afterwards).

    Each run starts after a full garbage collection, as timeit and pyperf
    keep runs apart: a collection of the runs before it does not land in
    its walk (an apply is one walk per process); the walk's own still do."""
    gc.collect()
    registry = Registry()
    registry.register("noop", Noop())
    registry.register("call", SimulatedCall())
    with tempfile.TemporaryDirectory(dir=ROOT, prefix=".bench-") as state:
        watch = Stopwatch()
        executor = Executor(state, Backend(registry, RealClock()), watch, store=store)
        try:
            start = time.perf_counter()
            outcome = executor.apply(plan, Options(parallelism=parallelism))
            elapsed = time.perf_counter() - start
        finally:
            executor.close()
        if keep is not None:
            start = time.perf_counter()
            SqliteStore(state).journal().close()
            keep.append(time.perf_counter() - start)
    if outcome.exit_code != 0:
        raise SystemExit(f"bench run failed: {outcome.message}")
    return elapsed, watch.end - watch.start


def dynamo_overhead(steps: int, runs: int) -> tuple[float, float, float]:
    """Per step with the journal and lock in DynamoDB on moto: (all, inside
    the DynamoDB calls, the rest) in milliseconds, and calls per step."""
    import boto3  # noqa: PLC0415 - only this measurement needs AWS
    from moto import mock_aws  # noqa: PLC0415

    from deployctl.state.dynamodb import DynamoStore  # noqa: PLC0415
    from deployctl.state.dynamotable import create_table  # noqa: PLC0415

    best = (float("inf"), 0.0, 0.0)
    for n in range(runs):
        with mock_aws():
            session = boto3.Session(region_name="us-east-1")
            create_table(session.client("dynamodb"), f"bench-{n}")
            store = DynamoStore(f"bench-{n}", session=session)
            inside, calls = [0.0], [0]
            call = store.table.call

            def timed(
                operation: str,
                inside: list[float] = inside,
                calls: list[int] = calls,
                call: Callable[..., Any] = call,
                **kw: Any,
            ) -> Any:
                start = time.perf_counter()
                try:
                    return call(operation, **kw)
                finally:
                    inside[0] += time.perf_counter() - start
                    calls[0] += 1

            store.table.call = timed  # type: ignore[method-assign]
            # One step at a time: moto's in-process backend is not thread-safe.
            total = run(noop_plan(steps, chains=10), 1, store)[0]
            if total < best[0]:
                best = (total, inside[0], calls[0])
    total, inside_s, count = best
    return total / steps * 1000.0, inside_s / steps * 1000.0, count / steps


def fence_cost(rounds: int = 2_000, pairs: int = 8) -> float:
    """Microseconds the fence adds to one journal commit: the same append,
    with the lock row checked inside its ``INSERT`` and without, in
    alternating blocks; the median of the pairs' differences
    (``synchronous=OFF`` for this measurement only, so the disk's fsync
    does not drown a few microseconds)."""
    with tempfile.TemporaryDirectory(dir=ROOT, prefix=".bench-") as state:
        store = SqliteStore(state)
        lock = store.lock("bench/fence", "bench@here", os.getpid())
        lock.acquire()
        journal = store.journal()
        run = journal.create_run(noop_plan(1, chains=1), "bench@here", {})
        db = getattr(journal, "db")  # noqa: B009 - the journal's connection
        db.conn.execute("PRAGMA synchronous = OFF")

        def block(fenced: bool) -> float:
            journal.hold(lock.fence if fenced else None)
            start = time.perf_counter()
            for _ in range(rounds):
                journal.append(run.run_id, "noop", step_id="c0/s0")
            return (time.perf_counter() - start) / rounds

        diffs = [block(True) - block(False) for _ in range(pairs)]
        journal.hold(None)
        journal.close()
        lock.release()
        lock.close()
    return statistics.median(diffs) * 1e6


def measure(steps: int, runs: int, walks: int | None = None) -> dict[str, float]:
    """Every measurement, best of ``runs``; (b) over ``walks`` walks
    (default ``runs``: a walk takes half a second, where (a) takes seconds)."""
    big = noop_plan(steps)
    opens: list[float] = []
    overhead = min(run(big, 10, keep=opens)[0] for _ in range(runs)) / steps * 1000.0
    dynamo = dynamo_overhead(DYNAMO_STEPS, runs)
    wide = wide_plan()
    critical = critical_steps(wide) * CALL_SECONDS
    # (b) and its floor walk by walk, so both see the same minutes.
    timings, floors = [], []
    for _ in range(walks or runs):
        timings.append(run(wide, 10))
        gc.collect()
        floors.append(floor.ratio(str(ROOT)))
    apply_time = min(t[0] for t in timings)
    makespan = min(t[1] for t in timings)
    median = statistics.median(t[1] for t in timings)
    return {
        "steps": steps,
        "overhead_ms": overhead,
        "wide_steps": len(wide.steps),
        "critical": critical,
        "makespan": makespan,
        "ratio": makespan / critical,
        "ratio_median": median / critical,
        "floor": min(floors),
        "floor_median": statistics.median(floors),
        "apply": apply_time,
        "apply_ratio": apply_time / critical,
        "dynamo_steps": DYNAMO_STEPS,
        **dict(zip(("dynamo_ms", "dynamo_calls_ms", "dynamo_calls"), dynamo, strict=True)),
        "open_ms": min(opens) * 1000.0,
        "records": 2 * steps,
        "fence_us": fence_cost(),
        "load": os.getloadavg()[0],
        "walks": len(timings),
    }


def table(m: dict[str, float]) -> str:
    ok_a = "yes" if m["overhead_ms"] < OVERHEAD_TARGET_MS else "NO"
    ok_b = "yes" if m["ratio"] <= RATIO_TARGET else "NO"
    return "\n".join(
        [
            "| measurement | result | target | met |",
            "|---|---|---|---|",
            f"| (a) overhead per step, {int(m['steps']):,} no-op steps, durable journal "
            f"| {m['overhead_ms']:.3f} ms | < {OVERHEAD_TARGET_MS:g} ms | {ok_a} |",
            f"| (b) makespan / critical path, {int(m['wide_steps'])} steps x 50 ms "
            f"| {m['makespan']:.3f} s / {m['critical']:.3f} s = {m['ratio']:.3f} "
            f"(median {m['ratio_median']:.3f}) | <= {RATIO_TARGET:.2f} | {ok_b} |",
            f"| (b') the same, whole `apply` (open journal, lock, create run, release) "
            f"| {m['apply']:.3f} s = {m['apply_ratio']:.3f} x critical path | | |",
            f"| (b'') the floor under (b): (b)'s walk with the least Python a journaled "
            f"executor runs (bench/floor.py), walk by walk beside (b) "
            f"| {m['floor']:.3f} (median {m['floor_median']:.3f}) | | |",
            f"| (c) overhead per step, {int(m['dynamo_steps']):,} no-op steps, DynamoDB journal "
            f"and lock (in-process moto, one step at a time) | {m['dynamo_ms']:.2f} ms, of which "
            f"{m['dynamo_calls_ms']:.2f} ms in {m['dynamo_calls']:.1f} DynamoDB calls (moto) "
            f"and {m['dynamo_ms'] - m['dynamo_calls_ms']:.2f} ms the rest | reported | |",
            f"| (d) opening a journal of {int(m['records']):,} records (PRAGMA checks, "
            f"`quick_check`) | {m['open_ms']:.1f} ms | | |",
            f"| (e) the fence in one journal commit (the lock row checked inside its `INSERT`) "
            f"| {m['fence_us']:.1f} µs | | |",
        ]
    )


def section(m: dict[str, float], runs: int) -> str:
    return f"""{SECTION}

`python bench/executor.py` (best of {runs}, (b) of {int(m["walks"])} walks; Python {platform.python_version()},
{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs; state on the
repository's disk, not tmpfs; load average {m["load"]:.1f} when measured).

{table(m)}

- (a) runs the real executor (thread pool of 10, scheduler, `${{...}}`
  resolution, reporter calls) over 100 independent chains of 100 mutating
  no-op steps. Each step writes an intent and a done record, each durable
  (WAL, `synchronous=FULL`) before the executor goes on; records written at
  the same moment by parallel steps share one transaction and one fsync
  (group commit). Each of those transactions also checks the lock row
  (fencing: the records commit only while this run holds the lock), and each
  step checks its lease on the monotonic clock before its call. The number
  is dominated by fsyncs and grows with a slower disk.
- (c) is the same walk with `--state-dir dynamodb://TABLE` on in-process
  moto, one step at a time (`--parallelism 1`: moto's in-process backend
  is not thread-safe): every record is one `TransactWriteItems` (the put
  and a `ConditionCheck` on the lock item), two per step. Moto copies every
  table for each transaction, so its time per call grows with the table
  and says nothing of AWS's; "the rest" is deployctl's own cost on this
  backend (items, JSON, botocore's request building, the executor).
  Against real DynamoDB each call is a round trip of a few milliseconds
  (twice the write units of a plain put) and parallel steps overlap.
- (d) is paid once per command: `status` and `runs` included.
- (e) is all that fencing adds to a commit on SQLite: the same journal
  append with the lock row checked inside its `INSERT` and without
  (`synchronous=OFF` for this measurement only; the median of 8 pairs of
  2,000 appends, about 50 µs each). The commit itself (its fsync) takes
  0.5 to 1 ms on this disk, so group commit and the disk, not fencing,
  decide (a) and (b). The lease check before each call is one
  monotonic clock read.
- (b) is {REGIONS} regions x {BRANCHES} branches x {DEPTH} steps between a root
  and a join per region; each step sleeps 50 ms through the real clock. The
  critical path is {critical_steps(wide_plan())} calls. The makespan is timed
  from the run's first journal record to its last (the walk); (b') adds the
  fixed cost of opening the journal, taking the lock and creating the run.
  A step on the critical path costs one fsynced commit and no thread
  hand-off: the worker that ran it queues its done record
  (`Journal.defer`), marks its dependents ready (`execute/schedule.py`) and
  starts the first of them itself; the main loop starts the others on other
  workers. When that next step's first act is its intent, the same worker
  settles the done record right after writing the intent (they share the
  commit, so it is durable then) and reports the step's end; otherwise
  another thread waits for the commit (`DEFER_GRACE`, 5 ms at most). Before
  the walk the journal's `-wal` is grown ahead (`Journal.make_room`), so
  the run's commits write over frames already on disk instead of growing
  the file. The done record commits together with the intent of the first
  dependent it releases, done first, and with the other dependents'
  intents if they are queued by then; a commit does not wait for more
  (those written while it runs share the next one). The run's first
  record shares the commit of the first root's intent the same way, and
  the walk's last done record shares `run_finished`'s. A commit is one
  `INSERT` of all its records with the fence in the statement's `WHERE`.
  Left on the critical path besides the calls: one commit per step and one
  at the end; the run's status after it is written without an fsync of its
  own (`run_finished`, durable, decides it; a crash between the two still
  leaves the run to resume). The best of the runs decides "met"; the
  median is shown beside it.
- (a) and (b) are sensitive to load, above all to other processes' disk
  writes (a commit's fsync took 1.3 to 3.5 ms in the same minute, up to
  10 ms at a load of 5), so the table's load average matters.
- What the third pass changed (issue 14, branch `makespan2`), each change
  measured A/B, old and new code alternating walk by walk, (b) only:
  - The `-wal` grows before the walk, not commit by commit
    (`Journal.make_room`, called before the run is marked running). A
    commit that appends to the `-wal` grows the file, so its fsync also
    waits for ext4's own journal (the new size and blocks); one that writes
    over frames already there does not: on this disk a 12 KB append and
    `fdatasync` took 0.9 ms, an overwrite 0.3 to 0.5 ms. SQLite is made to
    write the room itself: a transaction touching a page per record to come
    (at most 1,000, the autocheckpoint) is rolled back with an 8-page
    cache, so its pages spill to the `-wal` as frames past the last commit.
    Nothing is committed and the database does not grow; recovery ignores
    those frames and the run's commits write over them
    (`tests/state/test_wal_room.py` reopens copies taken after the room is
    made and after a commit over it). The `COMMIT` inside (b), median of
    16 walks' medians, went from 1.08 to 0.71 ms; the makespan itself did
    not move measurably at load 2-3 (28 walks each: best 1.089 / median
    1.171 before, 1.090 / 1.172 after). The room is paid before the walk,
    in (b') but not (b): writing it and the next commit's fsync writing it
    out. With 2 pages per record (320 pages for (b)) that part of the
    apply went from 6.5 to 15.2 ms (median of 16 each, load 1.1), with 1
    page per record to 11.9 ms, for the same walk (best 1.057 / median
    1.068 and 1.056 / 1.072); with 1 page, the whole apply is still
    faster than before the pass (best 1.089 -> 1.074, median 1.103 ->
    1.093), so 1 page it is.
  - The worker that runs the next step settles the previous step's done
    record itself, right after the next step's intent (the two share a
    commit, so the record is durable by then), reports `step_finished` and
    tells the schedule, instead of a pool thread being woken to wait for
    the commit and the main loop being woken to report: one `Future` and two
    thread wake-ups fewer per critical step. Only when the next step's first
    act is its intent (a mutating action's first attempt in an unreviewed
    run, with no `Action.before` of its own and no `${{ssm:...}}` param to
    read: nothing that may wait on AWS comes between); otherwise a settle
    thread bounds the wait as before
    (`tests/execute/test_settle_on_worker.py`). 24 walks each, load 1.2-2:
    best 1.081 -> 1.067, median 1.129 -> 1.113; voluntary context switches
    per step of (b) 14 -> 10. Reporting from the worker, with less Python
    per record (one JSON encoder for all records, no `StepState` built on
    every state lookup, no request copied when the step replaced nothing):
    24 walks each, load 1.3-1.7, best 1.070 -> 1.062, median 1.085 ->
    1.080; context switches per step 10 -> 8.
  - All of it against the branch's base, interleaved, 40 walks each: at
    load 1.5-2.1 best 1.071 -> 1.051, median 1.099 -> 1.075; at load
    3.5-4.9 best 1.081 -> 1.063, median 1.144 -> 1.116. (a) did not
    regress: 3,000 steps in 100 chains, three interleaved pairs of two
    runs, 0.55-0.66 ms per step before, 0.52-0.62 after. 1.05 was still
    not reached while other jobs shared the machine (the best of 40 walks
    missed it by 0.001). This script itself, run five times in ten minutes
    at load 1 to 2 at the pass's end: best of 3 gave (b) 1.064 and 1.068
    (room of 2 pages per record), then 1.114 (a spike: all three walks)
    and 1.080; best of 10 gave 1.064 (median 1.080).
  - Tried and dropped (no gain or worse, 20 walks each): a GIL switch
    interval of 0.5 ms; not holding the run's first commit for the roots'
    intents; `GATHER` 1 ms; starting every released dependent from the
    releasing worker with "saturated" meaning "no worker free" (the fan-out
    commit then waits out `GATHER` for threads still being created);
    creating the pool's threads while the roots' calls run (the fan-out
    level, root to the last branch's call, went from 5.8 to 3.8 ms median
    and 15 to 5 ms p90, but the makespan did not move in 40 walks each;
    the fan-out is the slowest level: 5 ms median against 1.9 ms for the
    others, threads being created one after another). One multi-row
    `INSERT` per commit was not kept: `tests/execute/test_group_commit.py`
    reads the records statement by statement (kept in the fourth pass, below,
    with the tests reading the one statement).
- What the fourth pass changed (issue 14, on main), each measured A/B
  against the commit before, walk by walk interleaved, (b) only:
  - One statement per commit. A commit of two records made five calls
    into SQLite (`BEGIN IMMEDIATE`, the lock row read, two `INSERT`s,
    `COMMIT`), and each call lets go of the GIL: on the critical path each
    is a chance for one of the other branches' threads to keep it. The
    commit's Python and SQLite outside the fsync took 0.45 ms of its 0.93
    ms median inside (b). Now all of a batch's records go in as one
    `INSERT ... SELECT ... FROM (VALUES ...) WHERE EXISTS (fence)` in
    autocommit: SQLite takes the write lock when the statement starts, as
    `BEGIN IMMEDIATE` did, and a lost lock writes nothing (the lock row is
    read then, for the message). The status update is one fenced `UPDATE`
    the same way. 30 walks each: best 1.056 -> 1.050, median 1.071 ->
    1.065.
  - The walk's last step (every other step complete, none in flight)
    queues its done record instead of committing it; `run_finished`
    commits both, and the step's end is reported once they are durable
    (`RunContext.write_deferred(then=...)`). The status written after it
    skips its own fsync (`set_status(durable=False)`; every other write
    stays `synchronous=FULL`). The run's end, the last call to
    run_finished, went from 3.0-4.6 ms to 2.0-2.7 ms on a single chain;
    (b), 48 walks each: best 1.061 -> 1.047 and median 1.071 -> 1.066
    for the first, median 1.0765 -> 1.0720 for the second.
  - Tried and dropped this time (36 walks each, worse or no change): a
    pool of threads started ahead of the fan-out; "saturated" meaning no
    room in the parallelism (the fan-outs of the three regions then share
    one commit that waits out `GATHER` for the slowest region, median
    1.076 -> 1.081); `GATHER` counting only the oldest queued done
    record's dependents; GIL switch intervals of 1 and 0.2 ms (in one
    process, alternating: median 1.070, 1.074, 1.090).
  - What was left then: with the journal on tmpfs (b) was 1.046 best and
    1.052 median against 1.069 / 1.084 on disk; a critical step of a
    single chain cost about 1.7 ms between calls (the commit about 1 ms,
    the worker's Python about 0.7 ms, several times slower right after a
    50 ms wait than in a loop: caches gone cold on this virtual machine).
- What the fifth pass changed (issue 14, on main), each measured A/B
  against the commit before, walk by walk interleaved, (b) only:
  - No more waiting to batch. Since a commit is one statement, holding it
    for the released dependents' intents (`GATHER`, up to 2 ms) cost more
    than the fsync it saved: the intents written while a commit runs share
    the next one, whose fsync follows back to back (0.17 ms here, against
    0.8 ms after 50 ms of idle). Three batches of 72 walks each: median
    1.0644 -> 1.0593, 1.0625 -> 1.0583, 1.0602 -> 1.0583 (`GATHER` 1 ms:
    1.0625). With it went `Journal.defer(followers=)` and
    `Walker.starting`, the 0.2 ms the walk spent counting its roots.
  - The commit's leader no longer decodes every record of its batch (a
    `json.loads` each) before the next commit may start; each waiter
    builds its own. 72 walks each: median 1.0583 -> 1.0570.
  - The walk's last step is also the last of several steps whose calls
    returned together, each left with only its done record to write (the
    three regions' joins): it no longer commits its own before
    `run_finished`. 72 walks each: median 1.0553 -> 1.0539.
  - Tried and dropped (72 walks each, worse): a leader waiting 0.5 or
    1 ms while other steps' calls had returned and their records were on
    the way (median 1.0541 -> 1.0582 and 1.0564); threads started ahead
    of the fan-out, and "saturated" meaning no room in the parallelism,
    alone and together (median 1.0595 -> 1.0676, 1.0701, 1.0703, with
    `GATHER` still there); without `GATHER`, that "saturated" made no
    difference (1.0590 against 1.0583). Pinning the process to one core
    gained about 0.005 but is no choice for a tool whose AWS calls run
    TLS on other threads.
  - All three against the pass's start, interleaved, 72 walks each:
    best 1.0439 -> 1.0405, median 1.0558 -> 1.0517. This script, run
    five times within fifteen minutes at load 0.3-1.2: best of 10 1.040
    (median 1.047), then 1.051 (median 1.058: the table above); best of 3
    1.042, 1.052 and 1.053.
  - What is left. In one alternating run, (b) on tmpfs (no fsync) gave
    1.032 best and 1.039 median, on this disk 1.050 and 1.064: the disk
    is now about 12 ms of the walk, the Python of the walk and its
    threads the rest. A single chain of the same ten steps (one region,
    one branch) costs 1.040 (median of 48 walks): per critical step one
    commit of about 1 ms (the fsync alone 0.45 ms median inside the walk,
    by strace; SQLite's own work about 50 µs hot), about 0.2 ms of
    oversleep in the call's `time.sleep` (the same on an idle
    interpreter) and about 0.7 ms of Python. Every branch beside it adds
    about 1 ms at the end (3 chains 1.049-1.051, 9 chains 1.060-1.065 on
    the previous main): the branches' commits and Python queue behind
    each other at every level, about five commits per level for nine
    branches, and the last branch carries the queue. Getting (b) under
    1.05 every time, not only in the machine's quiet hours, takes roughly
    2 to 3 ms less of that per walk. Part of the critical path as timed
    is not the executor's: each simulated call's `time.sleep(0.05)`
    returns about 0.2 ms late on this machine (the same on an idle
    interpreter), 2 ms over ten calls; the ratio still counts the nominal
    50 ms per call.
- What the sixth pass changed (issue 14, on main), measured by the parts
  of the last branch's path (run start to first call, fan-out, the levels,
  the join, the end, the calls' oversleep), walk by walk interleaved:
  - A step that releases no one counts done as soon as its done record is
    queued, as a released one does. When a join's dependencies end within
    a millisecond (each region's three branches), the last of them used
    to find the others not yet done (their records still in their
    commits) and commit alone too; the join then waited for both commits
    and for the main loop. Now it starts the join on its own worker. The
    join level went from 2.6-2.7 ms to 1.5-1.6 ms median in three runs of
    48 to 72 walks; the walk as a whole moved within the noise (median
    1.057 -> 1.055, 1.056 -> 1.057).
  - Each run of this script starts after a full garbage collection: one
    process runs every walk here, and a collection of earlier runs'
    garbage (about 2 ms for a generation-1 pass) landed in every fifth
    walk or so. 48 walks each, alternating: median 1.055 -> 1.053.
  - Tried and dropped:
    - Pool threads started while the main loop has nothing to do, so a
      fan-out finds them waiting: the fan-out level went from 4.4 to
      3.2 ms, but the levels after it got slower by 1.7 to 2.9 ms (three
      runs, 48 to 60 walks). Branches that start closer together meet at
      every level (their commits and their Python queue behind each
      other), where the spread a slower fan-out gives them is paid once.
    - A leaf's done record left for whichever commit comes next (another
      step's, the run's end, or the main loop's after 5 ms): the walk's
      end went from 2.5 to 2.0 ms, the walk as a whole did not move
      (1.052 both, 48 walks). Not worth leaf records staying non-durable
      longer.
    - The releasing worker starting its other released dependents itself
      instead of waking the main loop: the fan-out level did not move
      (4.4 ms) and the levels after it got 1.7 ms slower (median 1.058 ->
      1.064, 60 walks each): the worker pays the thread starts before it
      goes on with its own branch.
    - `os.sync()` between runs: no difference.
  - How much the Python costs: 100 µs more CPU per step (with the GIL
    held) made the walk 0.003 slower (1.5 ms: 1 ms on the last branch's
    ten steps, the rest queueing). The last 0.002-0.005 would take some
    70-170 µs less per step, out of 0.4-0.7 ms cold (0.15-0.25 ms hot)
    spread over some 130 Python calls per step, none above a tenth of it.
    One fsync per critical step is the floor the journal's promise sets
    (an intent is durable before its call), and one chain of the same ten
    steps alone costs 1.040.
- What the seventh pass changed (issue 14, on main), each measured walk by
  walk interleaved with the commit before (64 to 80 walks each), with the
  process's user CPU per walk (`getrusage`) beside the ratio:
  - A floor to measure against, (b''): (b)'s walk with the least Python a
    journaled executor can run (`bench/floor.py`: a thread per branch, each
    step a 50 ms sleep between its two records, records group-committed one
    `INSERT` per batch into the journal's own table, opened as deployctl
    opens it: WAL and `synchronous=FULL` on the same disk), run walk by walk beside (b) so
    both see the same minutes. It gives 1.035-1.037 best and 1.041-1.046
    median here: a fsync after a 50 ms idle call takes 0.7 to 1.0 ms on
    this virtual disk against 0.2 to 0.3 ms back to back (measured with a
    bare `pwrite` and `fdatasync`; a busy CPU beside it does not help), and
    a thread wakes 0.1 ms after it is signalled, so the ten levels cost
    some 20 ms before any of deployctl's code runs. What (b) adds over
    (b'') is the executor's own: 0.0155 of the median when the pass began
    (user CPU 40-42 ms per walk against the floor's 12: about 510 µs per
    step, cold, against 150).
  - `records.seq` without AUTOINCREMENT (journals made from now on): a
    commit no longer writes the counter's page. A two-record commit after
    50 ms idle, standalone: 1.37-1.48 -> 1.26-1.31 ms. (b) median 1.0624 ->
    1.0603.
  - Less Python per step: 143 -> 100 Python calls. The journal enters its
    lock directly (the Condition only to wait), builds its JSON encoder
    once (`JSONEncoder.encode` built a C encoder per record) and decodes a
    record it just encoded with the scanner itself; each step's secret
    references are found before the walk; what the plan alone decides
    (whether a step's first act is its intent, whether a kind is a gate) is
    kept per step and kind; `Action.before` is not called when the action
    has none; the main loop's queue is a `SimpleQueue`; `MultiReporter`
    calls only the reporters that override a per-step method. User CPU
    per walk 41.9 -> 33.7 ms; (b) median 1.0615 -> 1.0543, best 1.0486 ->
    1.0421 (80 walks each, with the commit above).
  - Tried and dropped: worker threads started without waiting for them to
    run (`_thread.start_new_thread`): the fan-out 4.3 -> 4.0 ms, the levels
    after it slower, the gain against main halved (-0.0035 where the same
    code with the thread pool gave -0.007): branches that start closer
    together meet at every level, as the sixth pass found; a done record
    committed at once on another thread while the next intent is prepared
    (two fsyncs per level: the levels 12.2 -> 17.7 ms); a commit taking
    only the records queued up to its leader's own (smaller batches: the
    levels 14.4 -> 16.3 ms). The group commit's wake-ups are not a herd:
    122 waits per walk for 110 records that waited.
  - Where it stands: the table above, (b) beside its floor. The executor
    adds 0.007 to 0.010 over the floor's median. At load 0.2 to 1 (the
    table; then this script twice more at its default, best of 3: 1.048
    and 1.045, medians 1.049 and 1.048; 40 walks interleaved with the
    floor: median 1.048 against 1.039) (b) is under 1.05, best and median.
    At load 1.7 to 2.8, in the same hour, the floor's own median rose to
    1.042-1.048 and (b)'s to 1.053-1.058 (best 1.046-1.052): the machine's
    noise is as large as what is left of the executor's share. The code
    before this pass, interleaved with it walk by walk at load 0.2-0.5, had
    medians of 1.058 to 1.066.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="best of N (default 3)")
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument(
        "--walks", type=int, default=None, help="(b)'s walks, best and median (default: --runs)"
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    m = measure(args.steps, args.runs, args.walks)
    print(table(m))
    if not args.no_write:
        write_section(SECTION, section(m, args.runs))
        print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
