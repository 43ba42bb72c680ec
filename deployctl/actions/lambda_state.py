"""Live state of Lambda functions and aliases for the plan diff.

Resource keys: ``lambda-function REGION NAME`` (``$LATEST``'s code and every
version's, one ``ListVersionsByFunction`` page per 50 versions),
``lambda-alias REGION NAME:ALIAS`` (version and weights, one ``GetAlias``) and
``s3-object REGION s3://BUCKET/KEY`` (the artifact's SHA-256, one
``HeadObject``).  Versions not published yet are called ``new``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from deployctl.actions.aws import Clients
from deployctl.core.params import LambdaAlias, LambdaCode
from deployctl.core.ports import ResourceState

NEW = "new"
NEW_CODE = "new-code"


def function_key(region: str | None, function: str) -> str:
    return f"lambda-function {region} {function}"


def alias_key(region: str | None, target: LambdaAlias) -> str:
    return f"lambda-alias {region} {target.function}:{target.alias}"


def s3_key(region: str | None, code: LambdaCode) -> str:
    key = f"s3-object {region} s3://{code.s3_bucket}/{code.s3_key}"
    version = code.s3_object_version
    return f"{key}?versionId={version}" if version else key


def version_name(version: str) -> str:
    return f"v{version}" if version.isdigit() else version


def alias_display(state: Mapping[str, Any] | None) -> str:
    if state is None:
        return "(no alias)"
    weights: Mapping[str, float] = state.get("weights") or {}
    rest = 100 - sum(round(w * 100) for w in weights.values())
    parts = [f"{version_name(str(state['version']))} {rest}%"]
    parts += [f"{version_name(v)} {round(w * 100)}%" for v, w in sorted(weights.items())]
    return " + ".join(parts)


def function_display(state: Mapping[str, Any] | None) -> str:
    if state is None:
        return "(no function)"
    versions = state["versions"]
    newest = max(versions, key=lambda v: (v.isdigit(), int(v) if v.isdigit() else 0), default=None)
    latest = str(state["latest"])
    code = "new code" if latest == NEW_CODE else f"code {latest[:10]}"
    return f"$LATEST {code}; {len(versions)} version(s)" + (
        f", newest {version_name(newest)}" if newest else ""
    )


def _missing(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] in ("ResourceNotFoundException", "404", "NoSuchKey")


def describe_function(clients: Clients, region: str | None, name: str, key: str) -> ResourceState:
    client = clients.client("lambda", region)
    latest: str | None = None
    versions: dict[str, str] = {}
    try:
        for page in client.get_paginator("list_versions_by_function").paginate(FunctionName=name):
            for v in page["Versions"]:
                if v["Version"] == "$LATEST":
                    latest = v["CodeSha256"]
                else:
                    versions[str(v["Version"])] = v["CodeSha256"]
    except ClientError as exc:
        if _missing(exc):
            return ResourceState(key, None, function_display(None))
        raise
    state = {"latest": latest, "versions": versions}
    return ResourceState(key, state, function_display(state))


def describe_alias(
    clients: Clients, region: str | None, function: str, alias: str, key: str
) -> ResourceState:
    try:
        found = clients.client("lambda", region).get_alias(FunctionName=function, Name=alias)
    except ClientError as exc:
        if _missing(exc):
            return ResourceState(key, None, alias_display(None))
        raise
    weights = (found.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    state = {
        "version": str(found["FunctionVersion"]),
        "weights": {str(k): float(v) for k, v in weights.items()},
    }
    return ResourceState(key, state, alias_display(state))


def describe_s3(clients: Clients, region: str | None, code: LambdaCode, key: str) -> ResourceState:
    extra = {"VersionId": code.s3_object_version} if code.s3_object_version else {}
    try:
        head = clients.client("s3", region).head_object(
            Bucket=code.s3_bucket, Key=code.s3_key, ChecksumMode="ENABLED", **extra
        )
    except ClientError as exc:
        if _missing(exc):
            return ResourceState(key, None, "(no object)")
        raise
    checksum = head.get("ChecksumSHA256")
    # A multipart upload's checksum is of the parts ("...-N"), not the zip.
    sha = str(checksum) if checksum and "-" not in checksum else None
    state = {"sha256": sha, "etag": head.get("ETag")}
    return ResourceState(key, state, f"sha256 {sha[:10]}" if sha else f"etag {head.get('ETag')}")
