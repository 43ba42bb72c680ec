"""One botocore data loader for every session of a test process (and of the
fork server and its children): models parsed once, search paths that do not
grow with each boto3 session."""

from __future__ import annotations

import boto3
import botocore.session

from deployctl.testing.aws import share_botocore_loader


def test_every_session_gets_the_one_loader_and_installing_twice_keeps_it() -> None:
    loader = share_botocore_loader()
    assert share_botocore_loader() is loader
    first = boto3.Session(region_name="us-east-1")._session.get_component("data_loader")
    second = botocore.session.get_session().get_component("data_loader")
    assert first is loader and second is loader


def test_boto3_sessions_do_not_grow_the_loaders_search_paths() -> None:
    loader = share_botocore_loader()
    before = list(loader.search_paths)
    for _ in range(5):
        boto3.Session(region_name="us-east-1")
    assert loader.search_paths == before


def test_clients_of_two_sessions_share_their_exception_classes() -> None:
    share_botocore_loader()
    kw = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
    first = boto3.Session(**kw).client("ssm", endpoint_url="http://127.0.0.1:9")
    second = boto3.Session(**kw).client("ssm", endpoint_url="http://127.0.0.1:9")
    assert first.exceptions.ParameterNotFound is second.exceptions.ParameterNotFound
