"""``flag.set``: write one feature flag to its store, and put it back on undo.

SSM keeps one JSON String parameter per flag (``<path>/<flag>``), the layout the
seed's flag service reads.  AppConfig keeps all flags of a profile in one
hosted JSON document; a change is a new hosted version plus a deployment,
which we wait for through the injected clock.

``apply`` returns the previous value (or ``None`` when the flag did not exist)
so ``undo`` restores exactly what was there, deleting a parameter it created.
Every write carries the step's idempotency token in its description, so after
a crash between the write and the journal's done record ``observe`` can tell
our write from someone else's and still find the value that came before it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from deployctl.core.kinds import StepKind
from deployctl.core.plan import Step
from deployctl.core.ports import (
    Action,
    Observation,
    Preview,
    Read,
    Registry,
    ResourceState,
    StepRequest,
)
from deployctl.errors import DeployctlError

APPCONFIG_DEFAULT_STRATEGY = "AppConfig.AllAtOnce"
APPCONFIG_POLL_SECONDS = 5.0
APPCONFIG_TIMEOUT_SECONDS = 3600.0
SSM_BATCH = 10  # names per GetParameters call, its limit


class ClientFactory(Protocol):
    def client(self, service: str, region: str | None) -> Any: ...


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class FlagSet(Action):
    """One action for both stores; the store kind is in ``params.store.kind``."""

    def __init__(self, clients: ClientFactory) -> None:
        self.clients = clients

    # --- SSM --------------------------------------------------------------------

    def _ssm_name(self, params: Mapping[str, Any]) -> str:
        return f"{params['store']['path'].rstrip('/')}/{params['flag']}"

    def _ssm_read(self, request: StepRequest) -> Any:
        ssm = self.clients.client("ssm", request.step.region)
        try:
            found = ssm.get_parameter(Name=self._ssm_name(request.params))
        except ssm.exceptions.ParameterNotFound:
            return None
        return json.loads(found["Parameter"]["Value"])

    def _ssm_observe(self, request: StepRequest) -> tuple[bool, Any]:
        """(written by this step?, the value before that write)."""
        ssm = self.clients.client("ssm", request.step.region)
        name = self._ssm_name(request.params)
        history: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"Name": name}
        try:
            while True:
                page = ssm.get_parameter_history(**kwargs)
                history += page["Parameters"]
                if not page.get("NextToken"):
                    break
                kwargs["NextToken"] = page["NextToken"]
        except ssm.exceptions.ParameterNotFound:
            return False, None
        history.sort(key=lambda item: item["Version"])
        if not history or request.token not in (history[-1].get("Description") or ""):
            return False, None
        before = json.loads(history[-2]["Value"]) if len(history) > 1 else None
        return True, before

    def _ssm_write(self, request: StepRequest, value: Any) -> None:
        ssm = self.clients.client("ssm", request.step.region)
        name = self._ssm_name(request.params)
        if value is None:
            with contextlib.suppress(ssm.exceptions.ParameterNotFound):
                ssm.delete_parameter(Name=name)
            return
        ssm.put_parameter(
            Name=name,
            Value=_canonical(value),
            Type="String",
            Overwrite=True,
            Description=f"feature flag managed by deployctl ({request.token})",
        )

    # --- AppConfig ----------------------------------------------------------------

    def _ids(self, request: StepRequest) -> tuple[str, str, str]:
        store = request.params["store"]
        appconfig = self.clients.client("appconfig", request.step.region)
        app_id = _find_id(
            appconfig.list_applications()["Items"], store["application"], "application"
        )
        env_id = _find_id(
            appconfig.list_environments(ApplicationId=app_id)["Items"],
            store["environment"],
            "environment",
        )
        profile_id = _find_id(
            appconfig.list_configuration_profiles(ApplicationId=app_id)["Items"],
            store["profile"],
            "configuration profile",
        )
        return app_id, env_id, profile_id

    def _appconfig_document(
        self, request: StepRequest
    ) -> tuple[dict[str, Any], tuple[str, str, str]]:
        appconfig = self.clients.client("appconfig", request.step.region)
        app_id, _, profile_id = ids = self._ids(request)
        versions = appconfig.list_hosted_configuration_versions(
            ApplicationId=app_id, ConfigurationProfileId=profile_id, MaxResults=1
        )["Items"]
        if not versions:
            return {}, ids
        latest = appconfig.get_hosted_configuration_version(
            ApplicationId=app_id,
            ConfigurationProfileId=profile_id,
            VersionNumber=versions[0]["VersionNumber"],
        )
        body = latest["Content"].read()
        return (json.loads(body) if body else {}), ids

    def _appconfig_observe(self, request: StepRequest) -> tuple[bool, Any]:
        appconfig = self.clients.client("appconfig", request.step.region)
        _, (app_id, _, profile_id) = self._appconfig_document(request)
        versions = appconfig.list_hosted_configuration_versions(
            ApplicationId=app_id, ConfigurationProfileId=profile_id, MaxResults=2
        )["Items"]
        if not versions or request.token not in (versions[0].get("Description") or ""):
            return False, None
        if len(versions) < 2:
            return True, None
        older = appconfig.get_hosted_configuration_version(
            ApplicationId=app_id,
            ConfigurationProfileId=profile_id,
            VersionNumber=versions[1]["VersionNumber"],
        )
        body = older["Content"].read()
        return True, (json.loads(body) if body else {}).get(request.params["flag"])

    def _appconfig_write(self, request: StepRequest, value: Any) -> None:
        appconfig = self.clients.client("appconfig", request.step.region)
        document, (app_id, env_id, profile_id) = self._appconfig_document(request)
        flag = request.params["flag"]
        if value is None:
            document.pop(flag, None)
        else:
            document[flag] = value
        version = appconfig.create_hosted_configuration_version(
            ApplicationId=app_id,
            ConfigurationProfileId=profile_id,
            Content=_canonical(document).encode(),
            ContentType="application/json",
            Description=f"deployctl {request.token}",
        )["VersionNumber"]
        deployment = appconfig.start_deployment(
            ApplicationId=app_id,
            EnvironmentId=env_id,
            DeploymentStrategyId=request.params["store"].get("deployment_strategy")
            or APPCONFIG_DEFAULT_STRATEGY,
            ConfigurationProfileId=profile_id,
            ConfigurationVersion=str(version),
            Description=f"deployctl {request.run_id} {request.step.id}",
        )
        self._wait_deployed(request, app_id, env_id, deployment["DeploymentNumber"])

    def _wait_deployed(self, request: StepRequest, app_id: str, env_id: str, number: int) -> None:
        appconfig = self.clients.client("appconfig", request.step.region)
        deadline = request.clock.now() + APPCONFIG_TIMEOUT_SECONDS
        while True:
            state = appconfig.get_deployment(
                ApplicationId=app_id, EnvironmentId=env_id, DeploymentNumber=number
            )["State"]
            if state == "COMPLETE":
                return
            if state in ("ROLLED_BACK", "ABORTED", "REVERTED"):
                raise DeployctlError(f"AppConfig deployment {number} ended {state}")
            if request.clock.now() >= deadline:
                raise DeployctlError(f"AppConfig deployment {number} still {state} after an hour")
            if not request.clock.sleep(APPCONFIG_POLL_SECONDS, request.cancel):
                raise DeployctlError(f"interrupted while AppConfig deployment {number} was {state}")

    # --- the plan diff: one resource per flag, read in batches --------------------------
    #
    # SSM: GetParameters reads up to 10 flags of a region in one call.  AppConfig:
    # all flags of a profile live in one document, read once through
    # AppConfigData (a session, then its configuration: two calls, and names
    # are accepted, so no id look-ups) for every flag of it.  That is the
    # *deployed* document, what applications see.

    def _key(self, step: Step, params: Mapping[str, Any]) -> str:
        store = params["store"]
        if store["kind"] == "ssm":
            return f"ssm-parameter {step.region} {self._ssm_name(params)}"
        where = f"{store['application']}/{store['environment']}/{store['profile']}"
        return f"appconfig-flag {step.region} {where} {params['flag']}"

    def resources(self, step: Step, params: Mapping[str, Any]) -> tuple[str, ...]:
        return (self._key(step, params),)

    def batch(self, step: Step, params: Mapping[str, Any], key: str) -> str | None:
        return key.rsplit(" ", 1)[0] if key.startswith("appconfig-flag ") else f"ssm {step.region}"

    def describe(self, step: Step, params: Mapping[str, Any], key: str) -> ResourceState:
        return self.describe_many([Read(key, step, params)])[key]

    def describe_many(self, reads: Sequence[Read]) -> Mapping[str, ResourceState]:
        if reads[0].params["store"]["kind"] == "ssm":
            return self._ssm_describe(reads)
        return self._appconfig_describe(reads)

    def _ssm_describe(self, reads: Sequence[Read]) -> dict[str, ResourceState]:
        ssm = self.clients.client("ssm", reads[0].step.region)
        by_name = {self._ssm_name(r.params): r.key for r in reads}
        names = sorted(by_name)
        values: dict[str, Any] = {}
        for n in range(0, len(names), SSM_BATCH):
            found = ssm.get_parameters(Names=names[n : n + SSM_BATCH])
            values |= {p["Name"]: json.loads(p["Value"]) for p in found["Parameters"]}
        return {key: _flag_state(key, values.get(name)) for name, key in by_name.items()}

    def _appconfig_describe(self, reads: Sequence[Read]) -> dict[str, ResourceState]:
        store = reads[0].params["store"]
        data = self.clients.client("appconfigdata", reads[0].step.region)
        token = data.start_configuration_session(
            ApplicationIdentifier=store["application"],
            EnvironmentIdentifier=store["environment"],
            ConfigurationProfileIdentifier=store["profile"],
        )["InitialConfigurationToken"]
        body = data.get_latest_configuration(ConfigurationToken=token)["Configuration"].read()
        document = json.loads(body) if body else {}  # empty: nothing deployed yet
        return {r.key: _flag_state(r.key, document.get(r.params["flag"])) for r in reads}

    def preview(self, step: Step, params: Mapping[str, Any], states: Mapping[str, Any]) -> Preview:
        key = self._key(step, params)
        wanted = dict(params["value"])
        same = states[key] is not None and _canonical(states[key]) == _canonical(wanted)
        return Preview(_canonical(wanted), not same, {} if same else {key: wanted})

    # --- the interface ---------------------------------------------------------------

    def _read(self, request: StepRequest) -> Any:
        if request.params["store"]["kind"] == "ssm":
            return self._ssm_read(request)
        document, _ = self._appconfig_document(request)
        return document.get(request.params["flag"])

    def _write(self, request: StepRequest, value: Any) -> None:
        if request.params["store"]["kind"] == "ssm":
            self._ssm_write(request, value)
        else:
            self._appconfig_write(request, value)

    def observe(self, request: StepRequest) -> Observation:
        current = self._read(request)
        wanted = dict(request.params["value"])
        if current is None or _canonical(current) != _canonical(wanted):
            shown = _canonical(current) if current is not None else "absent"
            return Observation(False, {}, f"flag is {shown}")
        if request.params["store"]["kind"] == "ssm":
            ours, before = self._ssm_observe(request)
        else:
            ours, before = self._appconfig_observe(request)
        if ours:
            return Observation(True, {"previous": before, "value": wanted}, "this step wrote it")
        # Already right before we ran: nothing of ours to undo.
        return Observation(
            True, {"previous": current, "value": wanted}, "flag already had the value"
        )

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        previous = self._read(request)
        wanted = dict(request.params["value"])
        if previous is None or _canonical(previous) != _canonical(wanted):
            self._write(request, wanted)
        return {"previous": previous, "value": wanted}

    def undo(self, request: StepRequest, outputs: Mapping[str, Any]) -> None:
        previous = outputs.get("previous")
        current = self._read(request)
        if _canonical(current) != _canonical(previous):
            self._write(request, previous)


def _flag_state(key: str, value: Any) -> ResourceState:
    return ResourceState(key, value, "(absent)" if value is None else _canonical(value))


def _find_id(items: list[dict[str, Any]], wanted: str, what: str) -> str:
    for item in items:
        if wanted in (item.get("Id"), item.get("Name")):
            return str(item["Id"])
    raise DeployctlError(f"AppConfig {what} {wanted!r} not found")


def register(registry: Registry, clients: ClientFactory) -> None:
    registry.register(StepKind.FLAG_SET, FlagSet(clients))
