"""A deployctl process the fencing test can pause: ``apply
plans/fraud-or-not.yaml`` on the AWS actions (a moto server), exactly as the
CLI builds it, with two test-only knobs the CLI does not have:

- ``--pause-after-intent STEP``: SIGSTOP itself right after the intent of
  STEP is durable (a frozen VM, a GC pause), printing ``paused`` first;
- ``--clock-offset-file F`` / ``--wall-offset S``: seconds added to this
  process's monotonic (read from F at each call) or wall clock, so the test
  can let "minutes" pass during the pause without sleeping through them.

    python holder.py STATE ENDPOINT [--pause-after-intent STEP] ...
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

from deployctl.actions.registry import load_backend
from deployctl.commands._load import load_plan
from deployctl.core.ports import MultiReporter, Reporter
from deployctl.core.records import Record
from deployctl.errors import DeployctlError
from deployctl.execute.runner import Executor
from deployctl.state import open_store
from deployctl.testing.worlds import fraud

VARS = [f"{k}={v}" for k, v in fraud.FAST.items()] + ["latency_stat=Maximum"]


class Lines(Reporter):
    def message(self, text: str) -> None:
        print(text, flush=True)


class Pause(Reporter):
    def __init__(self, step_id: str) -> None:
        self.step_id = step_id

    def record(self, record: Record) -> None:
        if (record.type, record.step_id) == ("intent", self.step_id):
            print("paused", flush=True)
            # To this very thread: a process-wide kill may let the thread run on
            # (and send its call) before the stop reaches it.
            signal.pthread_kill(threading.get_ident(), signal.SIGSTOP)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("state")
    parser.add_argument("endpoint")
    parser.add_argument("--pause-after-intent")
    parser.add_argument("--clock-offset-file")
    parser.add_argument("--wall-offset", type=float, default=0.0)
    args = parser.parse_args()
    offset_file = args.clock_offset_file

    def monotonic() -> float:
        if offset_file is None:
            return time.monotonic()
        text = Path(offset_file).read_text(encoding="utf-8").strip()
        return time.monotonic() + float(text or 0)

    loaded = argparse.Namespace(var=VARS, vars_file=[], region="us-east-1")
    plan = load_plan(fraud.PLAN, loaded)
    backend = load_backend(region="us-east-1", endpoint_url=args.endpoint)
    store = open_store(args.state, region="us-east-1", endpoint_url=args.endpoint)
    hooks = [Pause(args.pause_after_intent)] if args.pause_after_intent else []
    executor = Executor(
        args.state,
        backend,
        MultiReporter([Lines(), *hooks]),
        store=store,
        wall=lambda: time.time() + args.wall_offset,
        monotonic=monotonic,
    )
    try:
        return executor.apply(plan).exit_code
    except DeployctlError as exc:
        print(f"deployctl: {exc}", file=sys.stderr)
        return exc.exit_code
    finally:
        executor.close()


if __name__ == "__main__":
    raise SystemExit(main())
