"""The state contract suite runs every test against every backend: SQLite in
a temporary directory and DynamoDB on in-process moto (its conditional writes
made atomic, as DynamoDB's are)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from state_helpers import TABLE

from deployctl.state.api import StateStore
from deployctl.state.dynamodb import DynamoStore
from deployctl.state.dynamotable import create_table
from deployctl.state.sqlite import SqliteStore
from deployctl.testing.moto import atomic_dynamodb_writes


@pytest.fixture
def session() -> Iterator[boto3.Session]:
    with mock_aws():
        made = boto3.Session(region_name="us-east-1")
        create_table(made.client("dynamodb"), TABLE)
        yield made


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    if request.param == "sqlite":
        yield SqliteStore(str(tmp_path / "state"))
        return
    # Real DynamoDB applies a conditional write atomically; moto does not
    # unless told (see atomic_dynamodb_writes), and racing acquirers are tested.
    with mock_aws(), atomic_dynamodb_writes():
        made = boto3.Session(region_name="us-east-1")
        create_table(made.client("dynamodb"), TABLE)
        yield DynamoStore(TABLE, session=made, page_size=7)
