"""Flags in AppConfig: all flags of a configuration profile in one hosted
JSON document.  A change is a new hosted version plus a deployment, which we
wait for through the injected clock."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from deployctl.actions.flagstores.api import FlagBackend, canonical, flag_state
from deployctl.core.params import FlagSetParams
from deployctl.core.ports import Read, ResourceState, StepRequest
from deployctl.errors import DeployctlError

APPCONFIG_DEFAULT_STRATEGY = "AppConfig.AllAtOnce"
APPCONFIG_POLL_SECONDS = 5.0
APPCONFIG_TIMEOUT_SECONDS = 3600.0

Ids = tuple[str, str, str]  # application, environment, configuration profile


def _find_id(items: list[dict[str, Any]], wanted: str | None, what: str) -> str:
    for item in items:
        if wanted in (item.get("Id"), item.get("Name")):
            return str(item["Id"])
    raise DeployctlError(f"AppConfig {what} {wanted!r} not found")


def _body(found: dict[str, Any]) -> dict[str, Any]:
    body = found["Content"].read()
    return json.loads(body) if body else {}


class AppConfigFlags(FlagBackend):
    def _client(self, request: StepRequest) -> Any:
        return self.clients.client("appconfig", request.step.region)

    def _ids(self, request: StepRequest, p: FlagSetParams) -> Ids:
        appconfig = self._client(request)
        app_id = _find_id(
            appconfig.list_applications()["Items"], p.store.application, "application"
        )
        env_id = _find_id(
            appconfig.list_environments(ApplicationId=app_id)["Items"],
            p.store.environment,
            "environment",
        )
        profile_id = _find_id(
            appconfig.list_configuration_profiles(ApplicationId=app_id)["Items"],
            p.store.profile,
            "configuration profile",
        )
        return app_id, env_id, profile_id

    def _document(self, request: StepRequest, p: FlagSetParams) -> tuple[dict[str, Any], Ids]:
        appconfig = self._client(request)
        app_id, _, profile_id = ids = self._ids(request, p)
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
        return _body(latest), ids

    def read(self, request: StepRequest, p: FlagSetParams) -> Any:
        document, _ = self._document(request, p)
        return document.get(p.flag)

    def written_by(self, request: StepRequest, p: FlagSetParams) -> tuple[bool, Any]:
        appconfig = self._client(request)
        _, (app_id, _, profile_id) = self._document(request, p)
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
        return True, _body(older).get(p.flag)

    def write(self, request: StepRequest, p: FlagSetParams, value: Any) -> None:
        appconfig = self._client(request)
        document, (app_id, env_id, profile_id) = self._document(request, p)
        if value is None:
            document.pop(p.flag, None)
        else:
            document[p.flag] = value
        version = appconfig.create_hosted_configuration_version(
            ApplicationId=app_id,
            ConfigurationProfileId=profile_id,
            Content=canonical(document).encode(),
            ContentType="application/json",
            Description=f"deployctl {request.token}",
        )["VersionNumber"]
        deployment = appconfig.start_deployment(
            ApplicationId=app_id,
            EnvironmentId=env_id,
            DeploymentStrategyId=p.store.deployment_strategy or APPCONFIG_DEFAULT_STRATEGY,
            ConfigurationProfileId=profile_id,
            ConfigurationVersion=str(version),
            Description=f"deployctl {request.run_id} {request.step.id}",
        )
        self._wait_deployed(request, app_id, env_id, deployment["DeploymentNumber"])

    def _wait_deployed(self, request: StepRequest, app_id: str, env_id: str, number: int) -> None:
        appconfig = self._client(request)
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

    # The plan diff: all flags of a profile live in one document, read once
    # through AppConfigData (a session, then its configuration: two calls, and
    # names are accepted, so no id look-ups) for every flag of it.  That is the
    # *deployed* document, what applications see.

    def key(self, region: str | None, p: FlagSetParams) -> str:
        where = f"{p.store.application}/{p.store.environment}/{p.store.profile}"
        return f"appconfig-flag {region} {where} {p.flag}"

    def batch(self, region: str | None, key: str) -> str:
        return key.rsplit(" ", 1)[0]

    def describe(self, reads: Sequence[Read]) -> dict[str, ResourceState]:
        store = FlagSetParams.from_params(reads[0].params).store
        data = self.clients.client("appconfigdata", reads[0].step.region)
        token = data.start_configuration_session(
            ApplicationIdentifier=store.application,
            EnvironmentIdentifier=store.environment,
            ConfigurationProfileIdentifier=store.profile,
        )["InitialConfigurationToken"]
        body = data.get_latest_configuration(ConfigurationToken=token)["Configuration"].read()
        document = json.loads(body) if body else {}  # empty: nothing deployed yet
        return {r.key: flag_state(r.key, document.get(r.params["flag"])) for r in reads}
