"""Flags in SSM Parameter Store: one JSON String parameter per flag
(``<path>/<flag>``), the layout the seed's flag service reads."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import Any

from deployctl.actions.flagstores.api import FlagBackend, canonical, flag_state
from deployctl.core.params import FlagSetParams
from deployctl.core.ports import Read, ResourceState, StepRequest

SSM_BATCH = 10  # names per GetParameters call, its limit


def parameter_name(p: FlagSetParams) -> str:
    return f"{(p.store.path or '').rstrip('/')}/{p.flag}"


class SsmFlags(FlagBackend):
    def read(self, request: StepRequest, p: FlagSetParams) -> Any:
        ssm = self.clients.client("ssm", request.step.region)
        try:
            found = ssm.get_parameter(Name=parameter_name(p))
        except ssm.exceptions.ParameterNotFound:
            return None
        return json.loads(found["Parameter"]["Value"])

    def written_by(self, request: StepRequest, p: FlagSetParams) -> tuple[bool, Any]:
        ssm = self.clients.client("ssm", request.step.region)
        history: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"Name": parameter_name(p)}
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

    def write(self, request: StepRequest, p: FlagSetParams, value: Any) -> None:
        ssm = self.clients.client("ssm", request.step.region)
        name = parameter_name(p)
        if value is None:
            with contextlib.suppress(ssm.exceptions.ParameterNotFound):
                ssm.delete_parameter(Name=name)
            return
        ssm.put_parameter(
            Name=name,
            Value=canonical(value),
            Type="String",
            Overwrite=True,
            Description=f"feature flag managed by deployctl ({request.token})",
        )

    # The plan diff: GetParameters reads up to 10 flags of a region in one call.

    def key(self, region: str | None, p: FlagSetParams) -> str:
        return f"ssm-parameter {region} {parameter_name(p)}"

    def batch(self, region: str | None, key: str) -> str:
        return f"ssm {region}"

    def describe(self, reads: Sequence[Read]) -> dict[str, ResourceState]:
        ssm = self.clients.client("ssm", reads[0].step.region)
        by_name = {parameter_name(FlagSetParams.from_params(r.params)): r.key for r in reads}
        names = sorted(by_name)
        values: dict[str, Any] = {}
        for n in range(0, len(names), SSM_BATCH):
            found = ssm.get_parameters(Names=names[n : n + SSM_BATCH])
            values |= {p["Name"]: json.loads(p["Value"]) for p in found["Parameters"]}
        return {key: flag_state(key, values.get(name)) for name, key in by_name.items()}
