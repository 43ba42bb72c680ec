"""What only the DynamoDB store does: pages, large items, the table and the
spec, and DynamoDB's own refusals as one line."""

from __future__ import annotations

import random
import string

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from state_helpers import PLAN, STORED, TABLE, make_plan, step

from deployctl.errors import StateUnavailable, UserError
from deployctl.state import open_store
from deployctl.state.dynamodb import DynamoStore
from deployctl.state.sqlite import SqliteStore


def test_records_past_one_megabyte_page_through_and_large_data_is_compressed(
    session: boto3.Session,
) -> None:
    journal = DynamoStore(TABLE, session=session, page_size=7).journal()
    run = journal.create_run(PLAN, "me@here", STORED)
    rng = random.Random(7)
    # Incompressible, so the items stay big: 20 x 150 KB is three 1 MB query pages.
    blobs = ["".join(rng.choices(string.ascii_letters, k=150_000)) for _ in range(20)]
    for i, blob in enumerate(blobs):
        journal.append(run.run_id, "done", step_id=f"s{i}", data={"blob": blob})
    got = DynamoStore(TABLE, session=session).journal().records(run.run_id)
    assert [r.data["blob"] for r in got] == blobs


def test_a_plan_over_the_item_limit_is_stored_in_pieces(session: boto3.Session) -> None:
    rng = random.Random(3)
    big = make_plan(
        *(
            step(f"s{i}", params={"note": "".join(rng.choices(string.ascii_letters, k=1_000))})
            for i in range(1_000)
        )
    )
    store = DynamoStore(TABLE, session=session)
    stored = big.to_json(with_summary=False)
    run = store.journal().create_run(big, "me@here", stored)
    assert store.journal().plan_json(run.run_id) == stored
    pieces = store.table.client.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
        ExpressionAttributeValues={":pk": {"S": f"run#{run.run_id}"}, ":p": {"S": "plan#"}},
    )["Items"]
    assert len(pieces) >= 3


def test_a_missing_table_says_how_to_create_it(session: boto3.Session) -> None:
    journal = DynamoStore("nope", session=session).journal()
    with pytest.raises(UserError, match=r"dynamodb://nope: no such DynamoDB table in us-east-1"):
        journal.runs()


def test_the_spec_picks_the_backend_and_its_region() -> None:
    assert isinstance(open_store(".deployctl"), SqliteStore)
    with mock_aws():
        store = open_store("dynamodb://t?region=eu-west-1", region="us-east-1")
        assert isinstance(store, DynamoStore) and store.name == "dynamodb://t"
        assert store.table.region == "eu-west-1"
        other = open_store("dynamodb://t", region="us-west-2")
        assert isinstance(other, DynamoStore) and other.table.region == "us-west-2"
    for bad in ("dynamodb://", "dynamodb://t/x", "dynamodb://t?zone=a"):
        with pytest.raises(UserError, match="expected dynamodb://TABLE"):
            open_store(bad)


def test_stubber_throttling_past_the_retries_is_one_line_and_writes_nothing(
    session: boto3.Session,
) -> None:
    """botocore retries throttling itself (5 attempts); what is still refused
    reaches deployctl as the last error, which the stub stands in for."""
    store = DynamoStore(TABLE, session=session)
    run = store.journal().create_run(PLAN, "me@here", STORED)
    journal = store.journal()
    stub = Stubber(store.table.client)
    stub.add_client_error(
        "query",
        "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded",
        http_status_code=400,
    )
    with stub, pytest.raises(StateUnavailable) as caught:
        journal.append(run.run_id, "intent", step_id="a")
    message = str(caught.value)
    assert "\n" not in message and caught.value.exit_code == 1
    assert message.startswith(
        "dynamodb://deployctl-state: DynamoDB still refused the request after 5 attempts "
        "(ProvisionedThroughputExceededException); nothing recorded was lost"
    )
    assert store.journal().records(run.run_id) == []


def test_stubber_a_cancelled_transaction_for_throttling_is_the_same_line(
    session: boto3.Session,
) -> None:
    store = DynamoStore(TABLE, session=session)
    lock = store.lock("demo/prod", "me@here", 1)
    lock.acquire()
    journal = store.journal()
    journal.hold(lock.fence)
    run = journal.create_run(PLAN, "me@here", STORED)
    journal.append(run.run_id, "intent", step_id="a")
    stub = Stubber(store.table.client)
    stub.add_client_error(
        "transact_write_items",
        "TransactionCanceledException",
        "Transaction cancelled",
        http_status_code=400,
        modeled_fields={
            "CancellationReasons": [
                {"Code": "ThrottlingError", "Message": "Throughput exceeds the current capacity"},
                {"Code": "None"},
            ]
        },
    )
    with stub, pytest.raises(StateUnavailable, match="ThrottlingError"):
        journal.append(run.run_id, "done", step_id="a")
    assert [r.type for r in store.journal().records(run.run_id)] == ["intent"]


def test_stubber_any_other_refusal_is_one_line_naming_the_call(session: boto3.Session) -> None:
    store = DynamoStore(TABLE, session=session)
    stub = Stubber(store.table.client)
    stub.add_client_error(
        "query", "AccessDeniedException", "User is not authorized to perform dynamodb:Query"
    )
    with stub, pytest.raises(StateUnavailable) as caught:
        store.journal().runs()
    assert str(caught.value) == (
        "dynamodb://deployctl-state: DynamoDB refused query (AccessDeniedException: User is "
        "not authorized to perform dynamodb:Query); nothing recorded was lost"
    )
