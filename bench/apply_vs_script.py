"""deployctl against a hand-written boto3 script: the same canary, one moto server.

The canary is plans/fraud-or-not.yaml with every wait one second (three
stages and the monitor): alarms, new code from S3, publish, a smoke invoke,
10/25/50% on the alias with a metric check after each stage, promote,
monitor, clean up old versions.  The script is what a careful person writes
by hand for it: read the alias once (stable version and RevisionId), carry
RevisionId and CodeSha256 from one answer to the next call, no re-reads.
deployctl runs in-process through the real executor (durable journal, real
clock), so both sides start with boto3 already imported.

Each side runs ``--runs`` times, alternating, on a freshly reset server; the
table shows medians.  Wall time includes the four 1 s waits both sides make;
"outside waits" subtracts them.  API calls are counted with botocore's
``before-call`` event (retries would not count twice).

    python bench/apply_vs_script.py              # 5 runs each, writes docs/performance.md
    python bench/apply_vs_script.py --runs 1 --no-write
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import urllib.request
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402
from perfdoc import write_section  # noqa: E402

from deployctl.actions.aws import Clients  # noqa: E402
from deployctl.actions.builtin import register_aws  # noqa: E402
from deployctl.actions.cloudwatch import CloudWatchMetrics, alarm_spec  # noqa: E402
from deployctl.actions.registry import Backend, default_registry  # noqa: E402
from deployctl.core.clock import RealClock  # noqa: E402
from deployctl.execute.runner import Executor, Options  # noqa: E402
from deployctl.manifest.load import LoadOptions, load_text  # noqa: E402
from deployctl.plan.compile import compile_plan  # noqa: E402

SECTION = "## Apply vs a hand-written script"
PLAN = ROOT / "plans" / "fraud-or-not.yaml"
VARS = {"stage1": "1s", "stage2": "1s", "stage3": "1s", "monitor": "1s", "latency_stat": "Maximum"}
WAITS = 4.0  # seconds both sides wait on purpose
STAGES = (10, 25, 50)
FN, ALIAS, REGION = "api-handler", "live", "us-east-1"
BUCKET, KEY = "fraud-or-not-artifacts", "api-handler/2024.01.20.zip"
TIME_TARGET = 1.10
DIMS = [
    {"Name": "FunctionName", "Value": FN},
    {"Name": "Resource", "Value": f"{FN}:{ALIAS}"},
    {"Name": "ExecutedVersion", "Value": "2"},
]


def _zip(body: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", body)
    return buf.getvalue()


class Calls:
    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()

    def __call__(self, model: Any, **_: Any) -> None:
        self.seen[model.name] += 1


class World:
    """The moto server and a fresh fraud-or-not world on it."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _post(self, path: str, body: Any = None) -> None:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}/moto-api/{path}", data=data, method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def fresh(self) -> None:
        self._post("reset")
        session = boto3.Session(region_name=REGION)
        # botocore gzips large PutMetricData bodies, which moto's server cannot read.
        config = Config(disable_request_compression=True)

        def client(service: str) -> Any:
            return session.client(service, endpoint_url=self.url, config=config)

        role = client("iam").create_role(RoleName="fn-role", AssumeRolePolicyDocument="{}")
        client("s3").create_bucket(Bucket=BUCKET)
        client("s3").put_object(Bucket=BUCKET, Key=KEY, Body=_zip("v2"))
        lam = client("lambda")
        lam.create_function(
            FunctionName=FN,
            Runtime="python3.12",
            Role=role["Role"]["Arn"],
            Handler="handler.main",
            Code={"ZipFile": _zip("v1")},
        )
        lam.publish_version(FunctionName=FN)
        lam.create_alias(FunctionName=FN, Name=ALIAS, FunctionVersion="1")
        self._post(
            "static/lambda-simple/response",
            {"results": [json.dumps({"statusCode": 200})], "region": REGION},
        )
        now = int(time.time())
        data = [
            {
                "MetricName": name,
                "Value": value,
                "Dimensions": DIMS,
                "Timestamp": datetime.datetime.fromtimestamp(now + i, tz=datetime.UTC),
            }
            for name, value in (("Invocations", 100.0), ("Errors", 0.0), ("Duration", 120.0))
            for i in range(-60, 60)
        ]
        client("cloudwatch").put_metric_data(Namespace="AWS/Lambda", MetricData=data)

    def session(self, calls: Calls) -> Any:
        session = boto3.Session(region_name=REGION)
        session.events.register("before-call.*.*", calls)
        return session


# --- the hand-written script ------------------------------------------------------


def script(session: Any, url: str) -> None:
    lam = session.client("lambda", endpoint_url=url)
    cw = session.client("cloudwatch", endpoint_url=url)
    plan = compile_plan(load_text(PLAN.read_text(), str(PLAN), LoadOptions(vars=VARS)), str(PLAN))
    for alarm in plan.by_id["monitoring/alarms"].params["alarms"]:
        cw.put_metric_alarm(**alarm_spec("Deployctl", alarm))
    sha = lam.update_function_code(FunctionName=FN, S3Bucket=BUCKET, S3Key=KEY)["CodeSha256"]
    lam.get_waiter("function_updated_v2").wait(FunctionName=FN)
    live = lam.get_alias(FunctionName=FN, Name=ALIAS)
    stable, revision = live["FunctionVersion"], live["RevisionId"]
    new = lam.publish_version(FunctionName=FN, CodeSha256=sha)["Version"]
    answer = json.loads(
        lam.invoke(FunctionName=FN, Qualifier=new, Payload=b'{"ping": true}')["Payload"].read()
    )
    assert answer.get("statusCode") == 200, answer

    def check() -> None:
        start = time.time()
        time.sleep(1.0)
        end = time.time()
        stat = {
            "Metric": {"Namespace": "AWS/Lambda", "MetricName": "", "Dimensions": DIMS},
            "Period": 60,
        }
        queries = [
            {
                "Id": f"m{i}",
                "MetricStat": {**stat, "Metric": {**stat["Metric"], "MetricName": m}, "Stat": s},
            }
            for i, (m, s) in enumerate(
                (("Errors", "Sum"), ("Invocations", "Sum"), ("Duration", "Maximum"))
            )
        ]
        got = cw.get_metric_data(
            MetricDataQueries=queries,
            StartTime=datetime.datetime.fromtimestamp(start - start % 60, tz=datetime.UTC),
            EndTime=datetime.datetime.fromtimestamp(end, tz=datetime.UTC),
        )
        values = {r["Id"]: r["Values"] for r in got["MetricDataResults"]}
        rate = sum(values["m0"]) / max(sum(values["m1"]), 1.0)
        assert rate <= 0.01 and max(values["m2"], default=0.0) <= 1000, values

    for weight in STAGES:
        revision = lam.update_alias(
            FunctionName=FN,
            Name=ALIAS,
            FunctionVersion=stable,
            RoutingConfig={"AdditionalVersionWeights": {new: weight / 100}},
            RevisionId=revision,
        )["RevisionId"]
        check()
    lam.update_alias(
        FunctionName=FN,
        Name=ALIAS,
        FunctionVersion=new,
        RoutingConfig={"AdditionalVersionWeights": {}},
        RevisionId=revision,
    )
    check()  # the monitor
    versions = [
        int(v["Version"])
        for page in lam.get_paginator("list_versions_by_function").paginate(FunctionName=FN)
        for v in page["Versions"]
        if v["Version"] != "$LATEST"
    ]
    served = {a["FunctionVersion"] for a in lam.list_aliases(FunctionName=FN)["Aliases"]}
    for version in sorted(versions)[:-5]:
        if str(version) not in served:
            lam.delete_function(FunctionName=FN, Qualifier=str(version))


# --- deployctl ----------------------------------------------------------------------


def deployctl(session: Any, url: str) -> None:
    plan = compile_plan(load_text(PLAN.read_text(), str(PLAN), LoadOptions(vars=VARS)), str(PLAN))
    clients = Clients(session=session, endpoint_url=url)
    registry = default_registry(plugins=False)
    register_aws(registry, clients)
    with tempfile.TemporaryDirectory() as state:
        executor = Executor(state, Backend(registry, RealClock(), CloudWatchMetrics(clients)))
        try:
            outcome = executor.apply(plan, Options())
        finally:
            executor.close()
    assert outcome.exit_code == 0, outcome.message


# --- measure and report --------------------------------------------------------------


def measure(world: World, runs: int) -> dict[str, Any]:
    sides = {"script": script, "deployctl": deployctl}
    walls: dict[str, list[float]] = {name: [] for name in sides}
    calls: dict[str, Counter[str]] = {}
    for _ in range(runs):
        for name, side in sides.items():
            world.fresh()
            counted = Calls()
            session = world.session(counted)
            start = time.perf_counter()
            side(session, world.url)
            walls[name].append(time.perf_counter() - start)
            calls[name] = counted.seen
    return {"walls": walls, "calls": calls}


def report(m: dict[str, Any], runs: int) -> str:
    walls, calls = m["walls"], m["calls"]
    wall = {k: statistics.median(v) for k, v in walls.items()}
    outside = {k: v - WAITS for k, v in wall.items()}
    total = {k: sum(c.values()) for k, c in calls.items()}
    ops = sorted(set(calls["script"]) | set(calls["deployctl"]))
    by_op = "\n".join(f"| {op} | {calls['script'][op]} | {calls['deployctl'][op]} |" for op in ops)
    ratio = wall["deployctl"] / wall["script"]
    return f"""{SECTION}

`python bench/apply_vs_script.py` (median of {runs} runs each, alternating, one
moto server in the same process; Python {platform.python_version()},
{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs). The
fraud-or-not canary with every wait 1 s, once as a hand-written boto3 script
and once through deployctl's executor in-process (durable journal, real clock).

| | script | deployctl | ratio | target |
|---|---|---|---|---|
| wall time | {wall["script"]:.2f} s | {wall["deployctl"]:.2f} s | {ratio:.3f}x | <= {TIME_TARGET:.2f}x |
| outside the {WAITS:.0f} s of waits | {outside["script"]:.3f} s | {outside["deployctl"]:.3f} s | {outside["deployctl"] / outside["script"]:.2f}x | |
| API calls | {total["script"]} | {total["deployctl"]} | {total["deployctl"] / total["script"]:.2f}x | <= 1.00x |

| operation | script | deployctl |
|---|---|---|
{by_op}

How deployctl keeps to the script's calls while staying resumable:

- `lambda.publish` calls `PublishVersion` without a look-up: Lambda answers
  an unchanged function with its latest version, so a resumed publish never
  makes a second one. `code_sha256` from `lambda.update_code` makes Lambda
  refuse if `$LATEST` changed underneath.
- Each `lambda.shift` chains the alias `RevisionId` the previous step left
  (`lambda.publish` reads the alias once, as the script does). Only a stale
  revision (someone else edited the alias, or a resumed step) costs a
  `GetAlias`, and then the step compares before it writes.
- `cloudwatch.alarms` writes each alarm once without reading
  (`PutMetricAlarm` is an upsert); only reconciliation after a crash reads.
- `lambda.update_code` sends S3 code without reading the function first.

The wall-time difference outside the waits is the journal's fsyncs (two per
mutating step) and the executor's thread hand-offs; against real AWS, where
a call takes tens of milliseconds instead of moto's few, the calls dominate.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    for name, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench")):
        os.environ.setdefault(name, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        world = World(f"http://{host}:{port}")
        world._post("config", {"lambda": {"use_docker": False}})
        text = report(measure(world, max(1, args.runs)), max(1, args.runs))
    finally:
        server.stop()
    print(text)
    if not args.no_write:
        write_section(SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
