"""The Clients factory: caching, configuration, and botocore's own retries."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.retries import standard
from botocore.stub import Stubber

from deployctl.actions.aws import CONNECT_TIMEOUT, READ_TIMEOUT, Clients, mutating
from deployctl.errors import LeaseExpiring
from deployctl.state.lease import LEASE_SECONDS, SEND_MARGIN, LeaseClock, SendGuard, margin_for
from deployctl.testing.aws import REGION


def test_one_client_per_service_and_region_even_from_many_threads(aws: None) -> None:
    clients = Clients(session=boto3.Session(region_name=REGION))
    seen: list[Any] = []
    threads = [
        threading.Thread(target=lambda: seen.append(clients.client("lambda", "eu-west-1")))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(c) for c in seen}) == 1
    assert clients.client("lambda") is clients.client("lambda", REGION)
    assert clients.client("lambda") is not clients.client("lambda", "eu-west-1")


def test_clients_carry_retry_mode_user_agent_and_endpoint(aws: None) -> None:
    clients = Clients(
        session=boto3.Session(region_name=REGION),
        max_attempts=7,
        endpoint_url="http://127.0.0.1:5000",
    )
    client = clients.client("lambda")
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 7}
    assert "deployctl/" in client.meta.config.user_agent_extra
    assert client.meta.endpoint_url == "http://127.0.0.1:5000"
    slow = clients.client("lambda", read_timeout=900.0)
    assert slow is not client
    assert slow.meta.config.read_timeout == 900.0
    assert slow.meta.config.retries == client.meta.config.retries


def test_max_attempts_counts_the_first_try() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Clients(max_attempts=0)


def _throttled(**_: Any) -> AWSResponse:
    body = b'{"__type": "ThrottlingException", "message": "Rate exceeded"}'
    return AWSResponse(
        "https://lambda", 429, {"x-amzn-errortype": "ThrottlingException"}, _Raw(body)
    )


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def test_a_throttled_call_is_retried_by_botocore_and_succeeds(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stubber answers before botocore's retry handler runs, so it cannot show
    a retry; a ``before-send`` hook answers at the HTTP layer instead."""
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda *_: 0)  # no sleeps
    session = boto3.Session(region_name=REGION)
    sent: list[str] = []

    def throttle_twice(**kw: Any) -> AWSResponse | None:
        sent.append("try")
        return _throttled() if len(sent) <= 2 else None  # then moto answers

    session.events.register_first("before-send.lambda.ListFunctions", throttle_twice)
    clients = Clients(session=session, max_attempts=3)
    assert clients.client("lambda").list_functions()["Functions"] == []
    assert len(sent) == 3


def test_throttling_beyond_max_attempts_surfaces_the_error(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda *_: 0)
    session = boto3.Session(region_name=REGION)
    sent: list[str] = []

    def always(**_: Any) -> AWSResponse:
        sent.append("try")
        return _throttled()

    session.events.register_first("before-send.lambda.ListFunctions", always)
    client = Clients(session=session, max_attempts=2).client("lambda")
    with pytest.raises(client.exceptions.ClientError, match="Throttling"):
        client.list_functions()
    assert len(sent) == 2


def test_stubber_sees_the_throttling_error_a_caller_would_get(aws: None) -> None:
    """With Stubber the error reaches the caller as botocore shapes it."""
    client = Clients(session=boto3.Session(region_name=REGION)).client("lambda")
    with Stubber(client) as stub:
        stub.add_client_error("list_functions", "ThrottlingException", http_status_code=429)
        with pytest.raises(client.exceptions.ClientError, match="ThrottlingException"):
            client.list_functions()


def test_a_mutating_request_is_not_sent_when_the_lease_is_too_short(aws: None) -> None:
    mono = [0.0]
    lease = LeaseClock(120.0, lambda: mono[0])
    lease.renewed(0.0)
    guard = SendGuard()
    clients = Clients(session=boto3.Session(region_name=REGION), guard=guard)
    ssm = clients.client("ssm")
    guard.arm("demo/prod", lease, 45.0)
    ssm.put_parameter(Name="/flag", Value="on", Type="String")  # 120 s left: sent
    mono[0] = 100.0
    with pytest.raises(LeaseExpiring, match=r"so ssm PutParameter was not sent"):
        ssm.put_parameter(Name="/flag", Value="off", Type="String", Overwrite=True)
    assert ssm.get_parameter(Name="/flag")["Parameter"]["Value"] == "on"  # reads still go
    guard.disarm()  # no lock held (plan, db restore): nothing to protect
    ssm.put_parameter(Name="/flag", Value="off", Type="String", Overwrite=True)
    assert ssm.get_parameter(Name="/flag")["Parameter"]["Value"] == "off"


def test_one_attempt_ends_well_inside_the_send_margin() -> None:
    """The margin must outlast a call sent just before it is reached."""
    assert CONNECT_TIMEOUT + READ_TIMEOUT < SEND_MARGIN == margin_for(LEASE_SECONDS)
    client = Clients(session=boto3.Session(region_name=REGION)).client("lambda")
    assert (client.meta.config.connect_timeout, client.meta.config.read_timeout) == (10.0, 30.0)
    assert [
        mutating(op)
        for op in (
            "UpdateAlias",
            "Invoke",
            "GetAlias",
            "ListVersionsByFunction",
            "DescribeListeners",
            "GetMetricData",
        )
    ] == [True, True, False, False, False, False]


def test_our_retry_defaults_yield_to_the_environment(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Clients(session=boto3.Session(region_name=REGION)).client("s3").meta.config.retries == {
        "mode": "standard",
        "total_max_attempts": 5,
    }
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "9")
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    clients = Clients(session=boto3.Session(region_name=REGION))
    client = clients.client("s3")
    # nothing of ours overrides them: botocore resolves the user's settings
    assert client.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 9}
    assert clients.session._session.get_config_variable("max_attempts") == 9


def test_our_retry_defaults_yield_to_the_aws_config_file(
    aws: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    config = tmp_path / "aws-config"
    config.write_text("[default]\nmax_attempts = 2\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    client = Clients(session=boto3.Session(region_name=REGION)).client("s3")
    # our mode, the file's attempts
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 2}


def test_a_throttled_call_uses_the_users_attempts(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda *_: 0)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    session = boto3.Session(region_name=REGION)
    sent: list[str] = []

    def throttle(**kw: Any) -> AWSResponse:
        sent.append("try")
        return _throttled()

    session.events.register_first("before-send.lambda.ListFunctions", throttle)
    with pytest.raises(Exception, match="Throttling"):
        Clients(session=session).client("lambda").list_functions()
    assert len(sent) == 2  # AWS_MAX_ATTEMPTS, not our 5
