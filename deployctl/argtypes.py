"""Argument types for the command line: a bad value is one line from argparse
(``argument --region: ...``), never an error from deep inside boto3."""

from __future__ import annotations

import argparse
import math
import re
from urllib.parse import parse_qs, urlsplit

from deployctl.awsnames import DB, REGION

_TABLE = re.compile(r"[A-Za-z0-9_.-]{3,255}")  # DynamoDB's rule for table names
_DYNAMODB = "dynamodb://"


def at_least_one(text: str) -> int:
    """A whole number of at least 1 (``--parallelism``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive(text: str) -> float:
    """A finite number above 0 (``--sandbox-speed``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text!r}")
    return value


def region(text: str) -> str:
    """An AWS region name (``--region``)."""
    why = REGION.problem(text)
    if why is not None:
        raise argparse.ArgumentTypeError(why)
    return text


def rds_id(text: str) -> str:
    """An RDS instance or cluster identifier (``db restore``)."""
    why = DB.problem(text)
    if why is not None:
        raise argparse.ArgumentTypeError(why)
    return text


def endpoint(text: str) -> str:
    """An http(s) URL (``--endpoint-url``)."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"expected an http:// or https:// URL, got {text!r}")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    return text


def state(text: str) -> str:
    """A state directory, or ``dynamodb://TABLE[?region=R]`` (``--state-dir``)."""
    if not text:
        raise argparse.ArgumentTypeError("expected a directory or dynamodb://TABLE, got ''")
    if not text.startswith(_DYNAMODB):
        return text  # a file in the way is the state layer's one line (deployctl.state.files)
    parts = urlsplit(text)
    if parts.netloc and not _TABLE.fullmatch(parts.netloc):
        raise argparse.ArgumentTypeError(
            f"{parts.netloc!r} is not a DynamoDB table name: 3 to 255 letters, digits, '_', '-', '.'"
        )
    for value in parse_qs(parts.query).get("region", []):
        region(value)
    return text
