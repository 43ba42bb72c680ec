"""Lambda actions: deploy code, publish a version, shift an alias, clean up.

Traffic moves with the alias's ``RoutingConfig``: the alias keeps serving the
stable version as its primary and sends ``weight``% to the new one through
``AdditionalVersionWeights``; at 100% the new version becomes the primary and
the routing config is cleared.  Invocations (migration runners and smoke
tests) live in :mod:`deployctl.actions.lambda_invoke`.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from deployctl import files
from deployctl.actions import lambda_state as ls
from deployctl.actions.aws import Clients
from deployctl.actions.common import ActionError
from deployctl.actions.lambda_invoke import InvokeAction, SmokeLambda
from deployctl.core.kinds import StepKind
from deployctl.core.params import (
    LambdaAlias,
    LambdaCleanupParams,
    LambdaCode,
    LambdaPublishParams,
    LambdaShiftParams,
    LambdaUpdateCodeParams,
)
from deployctl.core.plan import Step
from deployctl.core.ports import Action, Observation, Preview, Registry, ResourceState, StepRequest
from deployctl.core.refs import is_unresolved
from deployctl.errors import ResourceChanged, UserError

LATEST = "$LATEST"


def _missing(exc: ClientError) -> bool:
    return bool(exc.response["Error"]["Code"] == "ResourceNotFoundException")


class _LambdaAction(Action):
    def __init__(self, clients: Clients) -> None:
        self.clients = clients

    def client(self, request: StepRequest) -> Any:
        return self.clients.client("lambda", request.step.region)

    def resources(self, step: Step, params: Mapping[str, Any]) -> tuple[str, ...]:
        """The function, and its alias (``lambda.publish``, ``lambda.cleanup_versions``)."""
        target = LambdaAlias.from_params(params)
        keys = [ls.function_key(step.region, target.function)]
        if target.alias:
            keys.append(ls.alias_key(step.region, target))
        return tuple(keys)

    def describe(self, step: Step, params: Mapping[str, Any], key: str) -> ResourceState:
        if key.startswith("lambda-alias "):
            target = LambdaAlias.from_params(params)
            return ls.describe_alias(self.clients, step.region, target.function, target.alias, key)
        return ls.describe_function(self.clients, step.region, str(params["function"]), key)


# --- code ----------------------------------------------------------------------


def _zip_sha(path: str) -> str:
    """Lambda's CodeSha256: base64 of the SHA-256 of the zip's bytes."""
    digest = hashlib.sha256(files.read(path, files.MAX_ZIP_BYTES, "Lambda code zip"))
    return base64.b64encode(digest.digest()).decode()


class UpdateCode(_LambdaAction):
    """``lambda.update_code``: put new code on ``$LATEST`` (S3 object, local zip
    or container image) and wait until the function is updated.

    A zip or an image whose code is already live is not sent again.  An S3
    object is compared through its SHA-256 checksum when S3 has one (uploads
    with ``ChecksumAlgorithm=SHA256``); otherwise it is sent, which is
    harmless: the same bytes give the same CodeSha256, and ``lambda.publish``
    publishes by CodeSha256.
    """

    def _live(self, request: StepRequest, function: str) -> tuple[str, str | None]:
        got = self.client(request).get_function(FunctionName=function)
        return got["Configuration"]["CodeSha256"], got.get("Code", {}).get("ImageUri")

    def _wanted_sha(self, request: StepRequest, code: LambdaCode) -> str | None:
        if code.zip_file:
            return _zip_sha(str(code.zip_file))
        if code.s3_bucket:
            s3 = self.clients.client("s3", request.step.region)
            extra = {"VersionId": code.s3_object_version} if code.s3_object_version else {}
            head = s3.head_object(
                Bucket=code.s3_bucket, Key=code.s3_key, ChecksumMode="ENABLED", **extra
            )
            checksum = head.get("ChecksumSHA256")
            # A multipart upload's checksum is of the parts ("...-N"), not the zip.
            return str(checksum) if checksum and "-" not in checksum else None
        return None

    def _is_live(
        self, request: StepRequest, p: LambdaUpdateCodeParams, check_s3: bool
    ) -> str | None:
        code = p.code
        if code.s3_bucket and not check_s3:
            return None  # decided without reading the function: no GetFunction call
        sha, image = self._live(request, p.function)
        if code.image_uri:
            return sha if image == code.image_uri else None
        return sha if self._wanted_sha(request, code) == sha else None

    def resources(self, step: Step, params: Mapping[str, Any]) -> tuple[str, ...]:
        p = LambdaUpdateCodeParams.from_params(params)
        keys = [ls.function_key(step.region, p.function)]
        if p.code.s3_bucket and p.code.s3_key:
            keys.append(ls.s3_key(step.region, p.code))
        return tuple(keys)

    def describe(self, step: Step, params: Mapping[str, Any], key: str) -> ResourceState:
        p = LambdaUpdateCodeParams.from_params(params)
        if key.startswith("s3-object "):
            return ls.describe_s3(self.clients, step.region, p.code, key)
        return ls.describe_function(self.clients, step.region, p.function, key)

    def preview(self, step: Step, params: Mapping[str, Any], states: Mapping[str, Any]) -> Preview:
        p = LambdaUpdateCodeParams.from_params(params)
        code = p.code
        fkey = ls.function_key(step.region, p.function)
        wanted: str | None = None
        if code.zip_file:
            try:
                wanted = _zip_sha(str(code.zip_file))
            except UserError:  # not built yet, or not a zip deployctl will read
                wanted = None
        elif code.s3_bucket:
            wanted = (states.get(ls.s3_key(step.region, code)) or {}).get("sha256")
        live = states[fkey]
        if live is not None and wanted is not None and live["latest"] == wanted:
            return Preview(ls.function_display(live), False, outputs={"code_sha256": wanted})
        after = dict(live or {"versions": {}})
        after["latest"] = wanted or ls.NEW_CODE
        return Preview(ls.function_display(after), True, states={fkey: after})

    def observe(self, request: StepRequest) -> Observation:
        p = LambdaUpdateCodeParams.from_params(request.params)
        sha = self._is_live(request, p, check_s3=True)
        if sha is None:
            return Observation(applied=False)
        return Observation(applied=True, outputs={"code_sha256": sha}, detail="code is live")

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        p = LambdaUpdateCodeParams.from_params(request.params)
        code, function = p.code, p.function
        # The S3 checksum costs a call a plain update does not need; skip it here.
        sha = self._is_live(request, p, check_s3=False)
        if sha is not None:
            return {"code_sha256": sha}
        args: dict[str, Any] = {"FunctionName": function}
        if code.image_uri:
            args["ImageUri"] = code.image_uri
        elif code.zip_file:
            args["ZipFile"] = files.read(str(code.zip_file), files.MAX_ZIP_BYTES, "Lambda code zip")
        elif code.s3_bucket and code.s3_key:
            args["S3Bucket"], args["S3Key"] = code.s3_bucket, code.s3_key
            if code.s3_object_version:
                args["S3ObjectVersion"] = code.s3_object_version
        else:
            raise ActionError(
                request.step.kind, f"{function}: code needs s3_bucket+s3_key, zip_file or image_uri"
            )
        client = self.client(request)
        sent = client.update_function_code(**args)
        client.get_waiter("function_updated_v2").wait(FunctionName=function)
        return {"code_sha256": sent["CodeSha256"]}


# --- versions ------------------------------------------------------------------


def _versions(client: Any, function: str) -> list[dict[str, Any]]:
    pages = client.get_paginator("list_versions_by_function").paginate(FunctionName=function)
    return [v for page in pages for v in page["Versions"] if v["Version"] != LATEST]


def _get_alias(client: Any, function: str, alias: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = client.get_alias(FunctionName=function, Name=alias)
    except ClientError as exc:
        if _missing(exc):
            return None
        raise
    return found


class Publish(_LambdaAction):
    """``lambda.publish``: publish ``$LATEST`` as a version, at most once per code.

    ``apply`` just calls PublishVersion: Lambda itself returns the latest
    version instead of a new one when code and configuration have not changed
    since it was published, so a retried or resumed publish never makes a
    second version, and costs no look-up.  ``code_sha256`` (from
    ``lambda.update_code``) makes Lambda refuse if ``$LATEST`` changed under
    us.  ``observe`` (after a crash) still looks for a version with
    ``$LATEST``'s code.  Outputs ``new_version``, ``stable_version`` (the
    version the alias serves now; the new one if there is no alias yet) and
    ``alias_revision``, which the shifts chain instead of re-reading the alias.
    """

    def _find(self, request: StepRequest) -> tuple[str, str | None]:
        client = self.client(request)
        function = LambdaPublishParams.from_params(request.params).target.function
        sha = client.get_function_configuration(FunctionName=function)["CodeSha256"]
        same = [int(v["Version"]) for v in _versions(client, function) if v["CodeSha256"] == sha]
        return sha, (str(max(same)) if same else None)

    def _outputs(self, request: StepRequest, version: str) -> dict[str, Any]:
        target = LambdaPublishParams.from_params(request.params).target
        found = (
            _get_alias(self.client(request), target.function, target.alias)
            if target.alias
            else None
        )
        return {
            "new_version": version,
            "stable_version": found["FunctionVersion"] if found else version,
            "alias_revision": found.get("RevisionId", "") if found else "",
        }

    def preview(self, step: Step, params: Mapping[str, Any], states: Mapping[str, Any]) -> Preview:
        target = LambdaPublishParams.from_params(params).target
        fkey = ls.function_key(step.region, target.function)
        live = states[fkey] or {"latest": ls.NEW_CODE, "versions": {}}
        alias = states.get(ls.alias_key(step.region, target)) if target.alias else None
        same = [v for v, sha in live["versions"].items() if sha == live["latest"] and v.isdigit()]
        if same and live["latest"] != ls.NEW_CODE:
            version = str(max(same, key=int))
            after = f"{ls.version_name(version)} has the code of $LATEST"
            changes, new_states = False, {}
        else:
            version = ls.NEW
            after = "publish a new version"
            versions = {**live["versions"], ls.NEW: live["latest"]}
            changes, new_states = True, {fkey: {**live, "versions": versions}}
        stable = str(alias["version"]) if alias else version
        return Preview(
            after, changes, new_states, {"new_version": version, "stable_version": stable}
        )

    def observe(self, request: StepRequest) -> Observation:
        _, version = self._find(request)
        if version is None:
            return Observation(applied=False)
        return Observation(
            applied=True,
            outputs=self._outputs(request, version),
            detail=f"version {version} has the code of $LATEST",
        )

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        p = LambdaPublishParams.from_params(request.params)
        args = {"FunctionName": p.target.function, "Description": f"deployctl {request.run_id}"}
        sha = p.code_sha256
        if sha and not is_unresolved(sha):
            args["CodeSha256"] = str(sha)
        published = self.client(request).publish_version(**args)
        return self._outputs(request, str(published["Version"]))


@dataclass(frozen=True)
class AliasState:
    version: str
    weights: Mapping[str, float]

    @classmethod
    def of(cls, alias: Mapping[str, Any]) -> AliasState:
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        return cls(str(alias["FunctionVersion"]), {str(k): float(v) for k, v in weights.items()})

    def same(self, other: AliasState) -> bool:
        return (
            self.version == other.version
            and self.weights.keys() == other.weights.keys()
            and all(abs(self.weights[k] - other.weights[k]) < 1e-9 for k in self.weights)
        )


def target_state(new: str, stable: str, weight: float) -> AliasState:
    """The alias for ``weight``% on ``new``: a promotion at 100%, nothing extra at 0%."""
    if weight >= 100 or new == stable:
        return AliasState(new, {})
    if weight <= 0:
        return AliasState(stable, {})
    return AliasState(stable, {new: weight / 100.0})


class Shift(_LambdaAction):
    """``lambda.shift``: set the alias to ``weight``% on ``new_version`` (see
    :func:`target_state`); undo puts the alias back on ``stable_version`` at 100%."""

    def _target(self, p: LambdaShiftParams) -> AliasState:
        return target_state(str(p.new_version), str(p.stable_version), float(p.weight))

    def _chained(self, request: StepRequest, want: AliasState) -> str | None:
        """Update the alias from the revision the previous step left, without
        reading it; ``None`` when that revision is unknown.

        A stale revision is never overwritten with a fresh one: if the alias is
        already as wanted (this very update landed and its answer was lost) the
        step is done, otherwise someone else moved it (a person, or a run that
        took this one's lock over) and :class:`ResourceChanged` stops the run.
        """
        revision = str(LambdaShiftParams.from_params(request.params).alias_revision or "")
        if not revision or is_unresolved(revision):
            return None
        return self._update(
            request, want, revision, f"revision {revision}, as the last step left it"
        )

    def _update(self, request: StepRequest, want: AliasState, revision: str, was: str) -> str:
        """UpdateAlias on ``revision``; a stale one is :class:`ResourceChanged`
        unless the alias is already ``want``."""
        client = self.client(request)
        target = LambdaAlias.from_params(request.params)
        function, name = target.function, target.alias
        try:
            done = client.update_alias(
                FunctionName=function,
                Name=name,
                FunctionVersion=want.version,
                RoutingConfig={"AdditionalVersionWeights": dict(want.weights)},
                RevisionId=revision,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "PreconditionFailedException":
                raise
            live = _get_alias(client, function, name)
            if live is not None and AliasState.of(live).same(want):
                return str(live["RevisionId"])
            now = (
                ls.alias_display(
                    {"version": live["FunctionVersion"], "weights": AliasState.of(live).weights}
                )
                if live is not None
                else ls.alias_display(None)
            )
            raise ResourceChanged(ls.alias_key(request.step.region, target), was, now) from None
        return str(done["RevisionId"])

    def _set(self, request: StepRequest, want: AliasState) -> str:
        """Put the alias in ``want``; returns its revision afterwards."""
        client = self.client(request)
        target = LambdaAlias.from_params(request.params)
        function, name = target.function, target.alias
        live = _get_alias(client, function, name)
        routing = {"AdditionalVersionWeights": dict(want.weights)}
        if live is None:
            made = client.create_alias(
                FunctionName=function,
                Name=name,
                FunctionVersion=want.version,
                RoutingConfig=routing,
            )
            return str(made["RevisionId"])
        if AliasState.of(live).same(want):
            return str(live["RevisionId"])
        # RevisionId: fail rather than overwrite a change someone made meanwhile.
        state = AliasState.of(live)
        shown = ls.alias_display({"version": state.version, "weights": state.weights})
        return self._update(request, want, str(live["RevisionId"]), f"{shown} when read")

    def resources(self, step: Step, params: Mapping[str, Any]) -> tuple[str, ...]:
        return (ls.alias_key(step.region, LambdaAlias.from_params(params)),)

    def preview(self, step: Step, params: Mapping[str, Any], states: Mapping[str, Any]) -> Preview:
        p = LambdaShiftParams.from_params(params)
        key = ls.alias_key(step.region, p.target)
        live = states[key]

        def known(value: str, default: str) -> str:
            return default if is_unresolved(value) else str(value)

        stable = known(p.stable_version, str(live["version"]) if live else ls.NEW)
        want = target_state(known(p.new_version, ls.NEW), stable, float(p.weight))
        state = {"version": want.version, "weights": dict(want.weights)}
        same = live is not None and AliasState.of(
            {
                "FunctionVersion": live["version"],
                "RoutingConfig": {"AdditionalVersionWeights": live["weights"]},
            }
        ).same(want)
        return Preview(ls.alias_display(state), not same, {key: state})

    def observe(self, request: StepRequest) -> Observation:
        p = LambdaShiftParams.from_params(request.params)
        live = _get_alias(self.client(request), p.target.function, p.target.alias)
        want = self._target(p)
        if live is None or not AliasState.of(live).same(want):
            return Observation(applied=False)
        return Observation(
            applied=True,
            outputs={"alias_revision": live["RevisionId"]},
            detail=f"alias {p.target.alias} already at {p.weight}%",
        )

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        want = self._target(LambdaShiftParams.from_params(request.params))
        revision = self._chained(request, want) or self._set(request, want)
        return {"alias_revision": revision}

    def undo(self, request: StepRequest, outputs: Mapping[str, Any]) -> None:
        stable = LambdaShiftParams.from_params(request.params).stable_version
        self._set(request, AliasState(str(stable), {}))


class CleanupVersions(_LambdaAction):
    """``lambda.cleanup_versions``: delete all but the newest ``keep`` versions,
    never ``$LATEST`` and never a version any alias serves (primary or weighted)."""

    def _doomed(self, request: StepRequest) -> list[str]:
        client = self.client(request)
        p = LambdaCleanupParams.from_params(request.params)
        function, keep = p.target.function, int(p.keep or 0)
        numbers = sorted(int(v["Version"]) for v in _versions(client, function))
        kept = set(numbers[-keep:]) if keep > 0 else set()
        served: set[str] = set()
        for page in client.get_paginator("list_aliases").paginate(FunctionName=function):
            for alias in page["Aliases"]:
                state = AliasState.of(alias)
                served.add(state.version)
                served.update(state.weights)
        return [str(n) for n in numbers if n not in kept and str(n) not in served]

    def preview(self, step: Step, params: Mapping[str, Any], states: Mapping[str, Any]) -> Preview:
        p = LambdaCleanupParams.from_params(params)
        fkey = ls.function_key(step.region, p.target.function)
        live = states[fkey] or {"latest": None, "versions": {}}
        alias = states.get(ls.alias_key(step.region, p.target)) if p.target.alias else None
        served = {str(alias["version"]), *alias["weights"]} if alias else set()
        numbers = sorted(int(v) for v in live["versions"] if v.isdigit())
        keep = int(p.keep or 0)
        kept = set(numbers[-keep:]) if keep > 0 else set()
        doomed = [str(n) for n in numbers if n not in kept and str(n) not in served]
        if not doomed:
            return Preview(ls.function_display(live), False)
        versions = {v: sha for v, sha in live["versions"].items() if v not in doomed}
        after = {**live, "versions": versions}
        names = ", ".join(ls.version_name(v) for v in doomed)
        return Preview(
            f"{ls.function_display(after)} (deletes {names} unless another alias serves it)",
            True,
            {fkey: after},
        )

    def observe(self, request: StepRequest) -> Observation:
        doomed = self._doomed(request)
        return Observation(
            applied=not doomed,
            outputs={"deleted": []},
            detail=f"{len(doomed)} version(s) to delete",
        )

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        doomed = self._doomed(request)
        client = self.client(request)
        function = LambdaCleanupParams.from_params(request.params).target.function
        for version in doomed:
            try:
                client.delete_function(FunctionName=function, Qualifier=version)
            except ClientError as exc:
                if not _missing(exc):  # gone already: a concurrent clean-up did it
                    raise
        return {"deleted": doomed}


def register(registry: Registry, clients: Clients) -> None:
    registry.register(StepKind.LAMBDA_UPDATE_CODE, UpdateCode(clients))
    registry.register(StepKind.LAMBDA_PUBLISH, Publish(clients))
    registry.register(StepKind.LAMBDA_SHIFT, Shift(clients))
    registry.register(StepKind.LAMBDA_CLEANUP_VERSIONS, CleanupVersions(clients))
    registry.register(StepKind.LAMBDA_INVOKE, InvokeAction(clients))
    registry.register(StepKind.SMOKE_LAMBDA, SmokeLambda(clients))
