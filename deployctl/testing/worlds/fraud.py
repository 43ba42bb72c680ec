"""plans/fraud-or-not.yaml: api-handler version 1 behind alias live, the new
code in S3, the canary's metrics; its apply command line and its result."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from deployctl.core.plan import Plan
from deployctl.manifest.load import LoadOptions, load_text
from deployctl.plan.compile import compile_plan
from deployctl.testing.aws import (
    MOTO_VARS,
    REGION,
    ClientSource,
    code_zip,
    lambda_role,
    put_metrics,
    queue_lambda_answers,
)
from deployctl.testing.worlds import ROOT

if TYPE_CHECKING:
    from deployctl.testing.moto import MotoServer

PLAN = str(ROOT / "plans" / "fraud-or-not.yaml")
FN = "api-handler"
BUCKET = "fraud-or-not-artifacts"
KEY = "api-handler/2024.01.20.zip"
# The gates' windows as vars: short enough that a real-clock run takes well
# under a second of waiting, long enough to be waited for.
FAST = {"stage1": "100ms", "stage2": "100ms", "stage3": "100ms", "monitor": "100ms"}


def build(aws: ClientSource, region: str = REGION) -> None:
    """api-handler version 1 behind alias live, and the new code in S3 (with
    a SHA-256 checksum, so plan can tell whether the live code is it)."""
    role = lambda_role(aws)
    s3 = aws.client("s3", region)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=code_zip("v2"), ChecksumAlgorithm="SHA256")
    lam = aws.client("lambda", region)
    lam.create_function(
        FunctionName=FN,
        Runtime="python3.12",
        Role=role,
        Handler="handler.main",
        Code={"ZipFile": code_zip("v1")},
    )
    lam.publish_version(FunctionName=FN)
    lam.create_alias(FunctionName=FN, Name="live", FunctionVersion="1")


def metrics(
    aws: ClientSource, times: Iterable[float], *, errors: float, duration: float = 120.0
) -> None:
    """Invocations, Errors and Duration of version 2 (the one the run publishes)."""
    dims = {"FunctionName": FN, "Resource": f"{FN}:live", "ExecutedVersion": "2"}
    values = {"Invocations": 100.0, "Errors": errors, "Duration": duration}
    put_metrics(aws, "AWS/Lambda", dims, values, times)


def alias(aws: ClientSource, region: str = REGION) -> tuple[str, dict[str, float]]:
    """(primary version, additional version weights) of alias live."""
    got = aws.client("lambda", region).get_alias(FunctionName=FN, Name="live")
    weights = (got.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return got["FunctionVersion"], dict(weights)


def published(aws: ClientSource, region: str = REGION) -> list[str]:
    """Every published version of the function, oldest first."""
    listed = aws.client("lambda", region).list_versions_by_function(FunctionName=FN)
    return [v["Version"] for v in listed["Versions"] if v["Version"] != "$LATEST"]


def apply_argv(server: MotoServer, state: Path, **lengths: str) -> tuple[str, ...]:
    """``apply plans/fraud-or-not.yaml`` against the moto server ``server``;
    ``lengths`` of stage1, stage2, stage3 and monitor default to :data:`FAST`."""
    lengths = {**FAST, **lengths}
    return (
        "apply",
        PLAN,
        "--endpoint-url",
        server.url,
        "--region",
        REGION,
        "--state-dir",
        str(state),
        *MOTO_VARS,
        *(arg for k, v in lengths.items() for arg in ("--var", f"{k}={v}")),
    )


# -- in one process: in-process moto and a virtual clock -----------------------------

# Two-minute stages checked every minute, the ten-minute monitor: 16 checks.
VIRTUAL_VARS = {"stage1": "2m", "stage2": "2m", "stage3": "2m", "latency_stat": "Maximum"}
# A fixed start, so the metrics written for a run's windows are always there.
VIRTUAL_START = datetime.datetime(2024, 1, 20, tzinfo=datetime.UTC).timestamp()


def var_args(values: dict[str, str]) -> list[str]:
    return [arg for k, v in values.items() for arg in ("--var", f"{k}={v}")]


def compiled(values: dict[str, str] = VIRTUAL_VARS) -> Plan:
    """The plan, compiled with ``values`` for its vars."""
    manifest = load_text(Path(PLAN).read_text(encoding="utf-8"), PLAN, LoadOptions(vars=values))
    return compile_plan(manifest, PLAN)


def answer_invokes(count: int = 8) -> None:
    """In-process moto: the next ``count`` invokes answer ``{"statusCode": 200}``."""
    queue_lambda_answers(*['{"statusCode": 200}'] * count)
