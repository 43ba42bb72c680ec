# ruff: noqa: PLC0415 - boto3, moto and deployctl load only once the environment is set
"""A fleet of Lambda canaries on each engine, against in-process moto.

N services (default 200), one plan each: a 3-stage canary (10% 5m, 50% 10m,
promote, 5m monitor, checks every 30 s) on its own function.  For each engine
the script reports, per deployment:

- runner-seconds: how long a deployctl process must live.  Local: the whole
  run, i.e. the bake (the plan's critical-path waits, 20 min here) plus the
  time spent working; Step Functions: the start (translate, create the state
  machine, take the lock, record the run, start the execution).
- API calls made by deployctl (botocore ``before-call``), and on Step
  Functions the calls the state machine makes for it (its task states).
- state transitions (Step Functions bills these): entered states of the
  execution, and export's estimate.

The local engine runs on a virtual clock (its bake costs no real time here;
the bake is added to the runner-seconds it would need); Step Functions runs
on moto with every Wait shrunk to 0 s.

    python bench/fleet.py            # 200 services
    python bench/fleet.py --n 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PLAN = """\
apiVersion: deployctl/v1
kind: Deployment
metadata: {{project: fleet, environment: svc{n}}}
aws: {{region: us-east-1}}
target:
  lambda: {{function: fn{n}, alias: live}}
strategy:
  type: canary
  interval: 30s
  stages:
    - {{traffic: 10, duration: 5m, metric_threshold: 0.01}}
    - {{traffic: 50, duration: 10m, metric_threshold: 0.05}}
    - {{traffic: 100, duration: stable}}
rollback:
  triggers: "ErrorRate>5%"
  monitoring_time: 5m
"""
REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/deployctl-sfn"


class Calls:
    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()

    def __call__(self, model: Any, **_: Any) -> None:
        self.seen[model.name] += 1

    def total(self) -> int:
        return sum(self.seen.values())


def functions(n: int) -> None:
    import io
    import zipfile

    import boto3

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.py", "def handler(e, c):\n    return {}\n")
    role = boto3.client("iam", region_name=REGION).create_role(
        RoleName="fn", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    lam = boto3.client("lambda", region_name=REGION)
    for i in range(n):
        lam.create_function(
            FunctionName=f"fn{i}", Runtime="python3.12", Role=role,
            Handler="index.handler", Code={"ZipFile": buf.getvalue()},
        )  # fmt: skip
        lam.create_alias(FunctionName=f"fn{i}", Name="live", FunctionVersion=lam.publish_version(FunctionName=f"fn{i}")["Version"])  # fmt: skip
        lam.update_function_configuration(FunctionName=f"fn{i}", Description="v2")


def plans(n: int, folder: Path) -> list[Any]:
    from deployctl.manifest import LoadOptions, load_file
    from deployctl.plan import compile_plan

    out = []
    for i in range(n):
        path = folder / f"svc{i}.yaml"
        path.write_text(PLAN.format(n=i))
        out.append(compile_plan(load_file(str(path), LoadOptions()), str(path)))
    return out


def local(compiled: list[Any], state: Path) -> dict[str, float]:
    import boto3

    from deployctl.actions.aws import Clients
    from deployctl.execute.runner import Executor, Options
    from deployctl.testing.aws import aws_backend
    from deployctl.testing.clock import VirtualClock

    calls = Calls()
    session = boto3.Session(region_name=REGION)
    session.events.register("before-call.*.*", calls)
    clients = Clients(session=session, max_attempts=3)
    plain = Clients(region=REGION)  # the world's metrics: not deployctl's calls
    work, bake, codes = [], [], Counter()
    from deployctl.testing.aws import put_metrics

    for n, plan in enumerate(compiled):
        clock = VirtualClock()
        # healthy traffic on version 2 (missing data would be inconclusive: a pause)
        dims = {"FunctionName": f"fn{n}", "Resource": f"fn{n}:live", "ExecutedVersion": "2"}
        times = [clock.now() + 60 * i for i in range(-2, 40)]
        put_metrics(plain, "AWS/Lambda", dims, {"Invocations": 100.0, "Errors": 0.0}, times)
        started = time.perf_counter()
        ex = Executor(str(state / plan.environment), aws_backend(clients, clock))
        try:
            outcome = ex.apply(plan, Options(auto_approve=True))
            codes[outcome.exit_code] += 1
            if outcome.exit_code:
                print(plan.environment, outcome.message, file=sys.stderr)
        finally:
            ex.close()
        work.append(time.perf_counter() - started)
        bake.append(
            plan.summary.to_json().get("min_wall_seconds", 0) or clock.now() - 1_700_000_000.0
        )
    return {
        "runner_s": statistics.mean(w + b for w, b in zip(work, bake, strict=True)),
        "working_s": statistics.mean(work),
        "calls": calls.total() / len(compiled),
        "exit_0": codes[0],
    }


def stepfunctions(compiled: list[Any], state: Path) -> dict[str, float]:
    import boto3

    from deployctl.state import open_store
    from deployctl.stepfunctions import asl, engine

    calls = Calls()
    session = boto3.Session(region_name=REGION)
    session.events.register("before-call.*.*", calls)
    made: dict[str, Any] = {}

    def client(service: str) -> Any:
        made.setdefault(service, session.client(service))
        return made[service]

    store = open_store(str(state))
    starts, arns = [], []
    for plan in compiled:
        t = time.perf_counter()
        started = engine.start(plan, store, client, role_arn=ROLE, user="bench", wait_scale=0)
        starts.append(time.perf_counter() - t)
        arns.append(started.execution_arn)
    start_calls = calls.total()
    for thread in threading.enumerate():
        if getattr(getattr(thread, "_target", None), "__name__", "") == "_execution_logic":
            thread.join(600)
    sfn = client("stepfunctions")
    entered, tasks, ok = [], [], 0
    for arn in arns:
        ok += sfn.describe_execution(executionArn=arn)["status"] == "SUCCEEDED"
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        entered.append(sum(e["type"].endswith("StateEntered") for e in events))
        tasks.append(sum(e["type"] == "TaskScheduled" for e in events))
    estimate = asl.translate(compiled[0]).transitions()["healthy"]
    return {
        "runner_s": statistics.mean(starts),
        "calls": start_calls / len(compiled),
        "machine_calls": statistics.mean(tasks),
        "transitions": statistics.mean(entered),
        "estimate": estimate,
        "succeeded": ok,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    import os

    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(key, "testing")
    from moto import mock_aws

    from deployctl.testing.moto import thread_safe_moto

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        compiled = plans(args.n, folder)
        with mock_aws(config={"lambda": {"use_docker": False}, "stepfunctions": {"execute_state_machine": True}}):  # fmt: skip
            functions(args.n)
            loc = local(compiled, folder / "local")
        # 200 executions on moto's threads put and read alarms at once: moto's
        # alarm readers are not safe for that (AWS is), thread_safe_moto fixes it.
        with mock_aws(config={"lambda": {"use_docker": False}, "stepfunctions": {"execute_state_machine": True}}), thread_safe_moto():  # fmt: skip
            functions(args.n)
            sfn = stepfunctions(compiled, folder / "sfn")
    print(json.dumps({"services": args.n, "local": loc, "stepfunctions": sfn}, indent=2))
    print(f"| per deployment ({args.n} Lambda canaries, moto) | local | Step Functions |")
    print("|---|---|---|")
    print(
        f"| runner-seconds | {loc['runner_s']:.0f} (bake + {loc['working_s']:.2f} s work) | {sfn['runner_s']:.2f} |"
    )
    print(
        f"| API calls by deployctl | {loc['calls']:.0f} | {sfn['calls']:.0f} (+{sfn['machine_calls']:.0f} by the state machine) |"
    )
    print(
        f"| state transitions | - | {sfn['transitions']:.0f} (export estimates {sfn['estimate']}) |"
    )


if __name__ == "__main__":
    main()
