"""The few DynamoDB calls the shared state store makes, with its errors made
readable (:mod:`deployctl.state.dynamodb` builds on them).

Throttling and 5xx answers are retried by botocore's standard retry mode
(5 attempts); what is still refused after that, or an endpoint that cannot
be reached, is one :class:`StateUnavailable` line.  Journal writes that must
be fenced go through :meth:`Table.transact`: the write and a
``ConditionCheck`` on the lock item in one ``TransactWriteItems``, with a
``ClientRequestToken`` so botocore's own retry of it is idempotent.
"""

from __future__ import annotations

import base64
import gzip
import secrets
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    NoCredentialsError,
    NoRegionError,
)

from deployctl.awssession import session as aws_session
from deployctl.errors import StateUnavailable, UserError
from deployctl.state import DYNAMODB

ATTEMPTS = 5
INLINE = 64_000  # bytes of JSON stored as is; more is gzipped (items are at most 400 KB)
PIECE = 300_000  # characters of gzip+base64 per item
_BUSY = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "LimitExceededException",
        "TransactionInProgressException",
    }
)
_BUSY_REASONS = frozenset(
    {"ThrottlingError", "ProvisionedThroughputExceeded", "TransactionConflict"}
)


def s(value: str) -> dict[str, str]:
    return {"S": value}


def n(value: float) -> dict[str, str]:
    return {"N": repr(value)}


def pack(text: str) -> str:
    return base64.b64encode(gzip.compress(text.encode(), mtime=0)).decode("ascii")


def unpack(text: str) -> str:
    return gzip.decompress(base64.b64decode(text)).decode()


def body(text: str) -> dict[str, dict[str, str]]:
    """A JSON body as item attributes: plain, or gzip+base64 when it is large."""
    if len(text.encode()) <= INLINE:
        return {"body": s(text)}
    return {"body_z": s(pack(text))}


def read_body(item: Mapping[str, Any]) -> str:
    return str(item["body"]["S"]) if "body" in item else unpack(item["body_z"]["S"])


class Cancelled(Exception):
    """A transaction was cancelled: ``reasons`` holds one code per item."""

    def __init__(self, reasons: Sequence[str]) -> None:
        self.reasons = tuple(reasons)
        super().__init__(", ".join(self.reasons))


def make_client(session: Any, region: str | None, endpoint_url: str | None, name: str) -> Any:
    config = Config(
        retries={"mode": "standard", "total_max_attempts": ATTEMPTS},
        connect_timeout=10,
        read_timeout=30,
    )
    try:
        return session.client(
            "dynamodb", region_name=region, endpoint_url=endpoint_url, config=config
        )
    except NoRegionError:
        raise UserError(
            f"{DYNAMODB}{name}: no AWS region; use {DYNAMODB}{name}?region=REGION or --region"
        ) from None


class Table:
    def __init__(
        self,
        name: str,
        *,
        session: Any = None,
        profile: str | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        self.name = name
        session = session or aws_session(profile, region)
        self.client = make_client(session, region or session.region_name, endpoint_url, name)
        self.region = self.client.meta.region_name

    def call(self, operation: str, **kw: Any) -> Any:
        try:
            return getattr(self.client, operation)(**kw)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ResourceNotFoundException":
                raise UserError(
                    f"{DYNAMODB}{self.name}: no such DynamoDB table in {self.region}; create it "
                    "(docs/cli.md, section 18) or name its region with ?region="
                ) from None
            if code in _BUSY:
                raise self.busy(code) from None
            if code == "TransactionCanceledException":
                reasons = [
                    r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])
                ]
                if _BUSY_REASONS & set(reasons):
                    raise self.busy(", ".join(r for r in reasons if r != "None")) from None
                raise Cancelled(reasons) from None
            if code == "ConditionalCheckFailedException":
                raise  # for _conditional: the condition said no
            message = exc.response.get("Error", {}).get("Message", "")
            raise StateUnavailable(
                f"{DYNAMODB}{self.name}: DynamoDB refused {operation} ({code}: {message}); "
                "nothing recorded was lost"
            ) from None
        except NoCredentialsError:
            raise UserError(f"{DYNAMODB}{self.name}: no AWS credentials found") from None
        except (ConnectionError, BotoCoreError) as exc:
            raise StateUnavailable(
                f"{DYNAMODB}{self.name}: DynamoDB could not be reached ({exc}); nothing "
                "recorded was lost: retry when it answers"
            ) from None

    def busy(self, why: str) -> StateUnavailable:
        return StateUnavailable(
            f"{DYNAMODB}{self.name}: DynamoDB still refused the request after {ATTEMPTS} "
            f"attempts ({why}); nothing recorded was lost: raise the table's capacity "
            "(or use on-demand) or wait, then retry"
        )

    def key(self, pk: str, sk: str) -> dict[str, Any]:
        return {"pk": s(pk), "sk": s(sk)}

    def get(self, pk: str, sk: str) -> dict[str, Any] | None:
        answer = self.call(
            "get_item", TableName=self.name, Key=self.key(pk, sk), ConsistentRead=True
        )
        item: dict[str, Any] | None = answer.get("Item")
        return item

    def put(self, item: Mapping[str, Any], condition: str | None = None, **kw: Any) -> bool:
        """False when ``condition`` did not hold (nothing was written)."""
        if condition is not None:
            kw["ConditionExpression"] = condition
        return self._conditional("put_item", Item=dict(item), **kw)

    def update(self, pk: str, sk: str, expression: str, condition: str, **kw: Any) -> bool:
        return self._conditional(
            "update_item",
            Key=self.key(pk, sk),
            UpdateExpression=expression,
            ConditionExpression=condition,
            **kw,
        )

    def _conditional(self, operation: str, **kw: Any) -> bool:
        try:
            self.call(operation, TableName=self.name, **kw)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def transact(self, items: Sequence[Mapping[str, Any]]) -> None:
        """All of ``items`` (``{"Put": ...}``, ``{"Update": ...}``,
        ``{"ConditionCheck": ...}`` without ``TableName``) or none; raises
        :class:`Cancelled` naming which condition failed."""
        actions = [
            {kind: {"TableName": self.name, **spec} for kind, spec in item.items()}
            for item in items
        ]
        self.call(
            "transact_write_items",
            TransactItems=actions,
            ClientRequestToken=secrets.token_hex(16),
        )

    def query(
        self, pk: str, prefix: str, *, forward: bool = True, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Items of ``pk`` whose sort key starts with ``prefix``, every page of them."""
        kw: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": s(pk)},
            "ConsistentRead": True,
            "ScanIndexForward": forward,
        }
        if prefix:  # DynamoDB refuses an empty one
            kw["KeyConditionExpression"] += " AND begins_with(sk, :prefix)"
            kw["ExpressionAttributeValues"][":prefix"] = s(prefix)
        if limit is not None:
            kw["Limit"] = limit
        while True:
            answer = self.call("query", **kw)
            yield from answer.get("Items", [])
            if "LastEvaluatedKey" not in answer:
                return
            kw["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def create_table(client: Any, name: str) -> None:
    """Create the table as docs/cli.md (section 18) does.  deployctl never
    calls this on its own; the test suite and bench/executor.py do, on moto."""
    client.create_table(
        TableName=name,
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
