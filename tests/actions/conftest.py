"""Fixtures for the AWS action tests: in-process moto, one boto3 session per
test, a virtual clock, and a counter of the AWS calls an action makes."""

from __future__ import annotations

import time
from collections.abc import Iterator

import boto3
import pytest
from aws_helpers import REGION, Calls
from moto import mock_aws

from deployctl.actions.aws import Clients
from deployctl.execute.clock import VirtualClock


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # EC2 instances (ALB targets) need no sample AMIs: loading them costs a second.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    # The docker-less Lambda backend: invokes answer from a queue we control.
    with mock_aws(config={"lambda": {"use_docker": False}}):
        yield


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def clients(aws: None, calls: Calls) -> Clients:
    session = boto3.Session(region_name=REGION)
    # Clients copy the session's hooks when created: register before any exists.
    session.events.register("before-call.*.*", calls)
    return Clients(session=session, max_attempts=3)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture(autouse=True)
def _no_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Waits go through the injected clock; a botocore waiter or retry that
    really sleeps would make these tests slow and flaky, so it fails them."""

    real = time.sleep

    def refuse(seconds: float) -> None:
        # subprocess polls a child with sleeps of a few milliseconds: allowed.
        if seconds >= 0.1:
            raise AssertionError(f"a real {seconds} s sleep in an action test: use the clock")
        real(seconds)

    monkeypatch.setattr(time, "sleep", refuse)
