"""What tests need around AWS, in-process moto and the moto server alike:
a count of API calls, step requests, Lambda code, roles and metrics.

World builders (:mod:`deployctl.testing.worlds`) take anything with
``client(service, region)``: the actions' :class:`~deployctl.actions.aws.Clients`
under ``mock_aws`` or a :class:`~deployctl.testing.moto.MotoServer` handle.
"""

from __future__ import annotations

import datetime
import io
import time
import zipfile
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from deployctl.actions.registry import Backend, default_registry
from deployctl.core.plan import Step
from deployctl.core.ports import Clock, Reporter, StepRequest
from deployctl.testing.clock import VirtualClock

REGION = "us-east-1"
# moto computes no percentiles (and fails GetMetricData when a p99 series
# has data): the example plans' Latency statistic is a var for this.
MOTO_VARS = ("--var", "latency_stat=Maximum")


def share_botocore_loader() -> Any:
    """Give every botocore session this process makes one data loader; return it.

    A loader keeps each service model, endpoint rule set and the endpoints
    table it has read; a new session starts with a new, empty one (and a
    new cache of each service's exception classes: shared here too).  moto's
    ``mock_aws`` clears boto3's default session each time it starts, so a
    test's ``boto3.client(...)`` read and parsed the same JSON files again:
    seconds of a module's CPU.  The fork server fills this loader before it
    forks, so each CLI child's sessions find every model already parsed
    (:mod:`deployctl.testing.forkserver`).  The models are read-only to
    botocore.
    """
    import boto3  # noqa: PLC0415 - only test processes call this
    import botocore.errorfactory  # noqa: PLC0415
    import botocore.loaders  # noqa: PLC0415
    import botocore.session  # noqa: PLC0415

    installed = getattr(botocore.session.get_session, "shared_loader", None)
    if installed is not None:
        return installed

    class Shared(botocore.loaders.Loader):  # type: ignore[misc] # botocore is untyped
        @property
        def search_paths(self) -> list[str]:
            # boto3 adds its data folder to each new session's loader: to a
            # copy here, or the one list would grow by one per session.
            return list(super().search_paths)

    real = botocore.session.get_session
    loader = Shared(extra_search_paths=[str(Path(boto3.__file__).parent / "data")])
    # Each client's modeled exception classes, made from its service model:
    # a third of a client's cost once the model is parsed, kept per session
    # by botocore.  One factory for every session keeps them per process.
    exceptions = botocore.errorfactory.ClientExceptionsFactory()

    def get_session(env_vars: Any = None) -> Any:
        session = real(env_vars)
        session.register_component("data_loader", loader)
        # (botocore has no public way to give a session this component.)
        session._register_internal_component("exceptions_factory", exceptions)
        return session

    get_session.shared_loader = loader  # type: ignore[attr-defined]
    botocore.session.get_session = get_session
    return loader


class ClientSource(Protocol):
    def client(self, service: str, region: str) -> Any: ...


class Calls:
    """Counts API operations through botocore's ``before-call`` event."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()

    def __call__(self, model: Any, **_: Any) -> None:
        self.seen[model.name] += 1

    def __getitem__(self, operation: str) -> int:
        return self.seen[operation]


def request(
    kind: str,
    params: Mapping[str, Any],
    clock: Clock | None = None,
    *,
    step_id: str = "us-east-1/step",
    region: str = REGION,
) -> StepRequest:
    """What the executor hands an action for a one-step plan."""
    step = Step(id=step_id, kind=kind, description=kind, params=dict(params), region=region)
    return StepRequest(
        step=step,
        params=dict(params),
        run_id="run-1",
        attempt=1,
        token="tok-1",
        clock=clock or VirtualClock(),
    )


def code_zip(body: str) -> bytes:
    """A Lambda deployment package holding ``handler.py``.  A fixed timestamp:
    the same code gives the same bytes and CodeSha256, so plan output is stable."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(zipfile.ZipInfo("handler.py", date_time=(2024, 1, 20, 0, 0, 0)), body)
    return buf.getvalue()


def lambda_role(aws: ClientSource, name: str = "fn-role") -> str:
    """An IAM role for functions (moto's Lambda needs one that exists)."""
    iam = aws.client("iam", REGION)
    doc = '{"Version":"2012-10-17","Statement":[]}'
    return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=doc)["Role"]["Arn"])


def around_now(before: int | None = None, after: int = 60) -> list[float]:
    """One timestamp a second from ``before`` seconds from now (default: the
    start of this minute) to ``after`` seconds from now.

    A gate's window starts at the period (minute) boundary before the gate
    began and ends at the check, so points from this minute's start on keep
    every window of a short real-clock run fed, whenever it starts; fewer
    points make a faster world to build."""
    now = int(time.time())
    first = -(now % 60) - 2 if before is None else before
    return [float(now + i) for i in range(first, after)]


def every_minute(clock: Clock, minutes: int = 120) -> list[float]:
    """One timestamp a minute for the next ``minutes`` of a (virtual) clock."""
    start = clock.now()
    return [start + 60 * i for i in range(minutes + 1)]


def put_metrics(
    aws: ClientSource,
    namespace: str,
    dimensions: Mapping[str, str],
    values: Mapping[str, float],
    times: Iterable[float],
    region: str = REGION,
) -> None:
    """``values`` (metric name -> value) at each of ``times``."""
    dims = [{"Name": k, "Value": v} for k, v in dimensions.items()]
    stamps = [datetime.datetime.fromtimestamp(t, tz=datetime.UTC) for t in times]
    data = [
        {"MetricName": name, "Value": value, "Dimensions": dims, "Timestamp": stamp}
        for name, value in values.items()
        for stamp in stamps
    ]
    cw = aws.client("cloudwatch", region)
    for n in range(0, len(data), 1000):
        cw.put_metric_data(Namespace=namespace, MetricData=data[n : n + 1000])


def queue_lambda_answers(*answers: str, region: str = REGION) -> None:
    """In-process moto: what the next invokes of the docker-less Lambda
    return, one each (the moto server's is :meth:`MotoServer.lambda_answers`)."""
    from moto.core.models import DEFAULT_ACCOUNT_ID  # noqa: PLC0415 - moto only when used
    from moto.moto_api._internal.models import moto_api_backend  # noqa: PLC0415

    for answer in answers:
        moto_api_backend.set_lambda_simple_result(answer, DEFAULT_ACCOUNT_ID, region)


def aws_backend(clients: Any, clock: Clock, *reporters: Reporter) -> Backend:
    """The built-in actions and CloudWatch metrics on ``clients`` (in-process
    moto), on ``clock``: what ``load_backend`` gives, minus the real clock."""
    from deployctl.actions.builtin import register_aws  # noqa: PLC0415 - boto3 only when used
    from deployctl.actions.cloudwatch import CloudWatchMetrics  # noqa: PLC0415

    registry = default_registry(plugins=False)
    register_aws(registry, clients)
    return Backend(registry, clock, CloudWatchMetrics(clients), reporters=reporters)
