"""How much the executor costs on top of the actions it runs.

(a) Overhead: 10,000 mutating no-op steps (100 independent chains of 100)
    through the real executor with the durable SQLite journal (WAL,
    synchronous=FULL: two fsynced records per step, intent and done).  The
    per-step overhead is wall time / steps.
(b) Makespan: a wide plan, 3 regions x 3 parallel branches of 8 steps between
    a per-region root and join, every step a simulated 50 ms call through the
    real clock.  Ratio = makespan / critical path (10 steps x 50 ms).

The table is printed and written to the "## Executor" section of
``docs/performance.md``; other sections of that file are left as they are.

    python bench/executor.py              # best of 3
    python bench/executor.py --runs 1 --no-write
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from perfdoc import DOC, write_section  # noqa: E402

from deployctl.actions.api import Action, Observation, Registry, StepRequest  # noqa: E402
from deployctl.actions.registry import Backend  # noqa: E402
from deployctl.execute.api import Outcome, Reporter  # noqa: E402
from deployctl.execute.clock import RealClock  # noqa: E402
from deployctl.execute.runner import Executor, Options  # noqa: E402
from deployctl.plan.api import Plan, Step  # noqa: E402
from deployctl.state.api import RunInfo  # noqa: E402

SECTION = "## Executor"
CALL_SECONDS = 0.050
REGIONS, BRANCHES, DEPTH = 3, 3, 8
OVERHEAD_TARGET_MS = 2.0
RATIO_TARGET = 1.10


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


def run(plan: Plan, parallelism: int) -> tuple[float, float]:
    """(whole apply, walk) wall seconds."""
    registry = Registry()
    registry.register("noop", Noop())
    registry.register("call", SimulatedCall())
    with tempfile.TemporaryDirectory(dir=ROOT, prefix=".bench-") as state:
        watch = Stopwatch()
        executor = Executor(state, Backend(registry, RealClock()), watch)
        try:
            start = time.perf_counter()
            outcome = executor.apply(plan, Options(parallelism=parallelism))
            elapsed = time.perf_counter() - start
        finally:
            executor.close()
    if outcome.exit_code != 0:
        raise SystemExit(f"bench run failed: {outcome.message}")
    return elapsed, watch.end - watch.start


def measure(steps: int, runs: int) -> dict[str, float]:
    big = noop_plan(steps)
    overhead = min(run(big, 10)[0] for _ in range(runs)) / steps * 1000.0
    wide = wide_plan()
    critical = critical_steps(wide) * CALL_SECONDS
    timings = [run(wide, 10) for _ in range(runs)]
    apply_time = min(t[0] for t in timings)
    makespan = min(t[1] for t in timings)
    return {
        "steps": steps,
        "overhead_ms": overhead,
        "wide_steps": len(wide.steps),
        "critical": critical,
        "makespan": makespan,
        "ratio": makespan / critical,
        "apply": apply_time,
        "apply_ratio": apply_time / critical,
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
            f"| <= {RATIO_TARGET:.2f} | {ok_b} |",
            f"| (b') the same, whole `apply` (open journal, lock, create run, release) "
            f"| {m['apply']:.3f} s = {m['apply_ratio']:.3f} x critical path | | |",
        ]
    )


def section(m: dict[str, float], runs: int) -> str:
    return f"""{SECTION}

`python bench/executor.py` (best of {runs}; Python {platform.python_version()},
{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs; state on the
repository's disk, not tmpfs).

{table(m)}

- (a) runs the real executor (thread pool of 10, scheduler, `${{...}}`
  resolution, reporter calls) over 100 independent chains of 100 mutating
  no-op steps. Each step writes an intent and a done record, each durable
  (WAL, `synchronous=FULL`) before the executor goes on; records written at
  the same moment by parallel steps share one transaction and one fsync
  (group commit). The number is dominated by fsyncs and grows with a slower
  disk.
- (b) is {REGIONS} regions x {BRANCHES} branches x {DEPTH} steps between a root
  and a join per region; each step sleeps 50 ms through the real clock. The
  critical path is {critical_steps(wide_plan())} calls. The makespan is timed
  from the run's first journal record to its last (the walk); (b') adds the
  fixed cost of opening the journal, taking the lock and creating the run.
  The gap is two fsynced journal records (intent, done) and two thread
  hand-offs per step on the critical path; concurrent records share one
  fsync (group commit).
- (b) is sensitive to load: on a shared 2-CPU VM, repeated runs gave 1.07 to
  1.13 (best of 5 each), so the 1.10 target is met only on a quiet machine.
  The next saving would be to let a step's done record share one commit
  with its dependent's intent (one fsync instead of two per critical step),
  which keeps the ordering the journal promises.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="best of N (default 3)")
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    m = measure(args.steps, args.runs)
    print(table(m))
    if not args.no_write:
        write_section(SECTION, section(m, args.runs))
        print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
