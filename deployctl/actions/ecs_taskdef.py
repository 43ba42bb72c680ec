"""``ecs.register``: the task definition the new version runs.

From a JSON file in the plan's repository (``RegisterTaskDefinition``'s own
input: ``family``, ``containerDefinitions``...), or from the live task
definition (``base``, what the live side runs), either with ``image`` put on
``container`` (default: the container the load balancer reaches, or the
only one).

Registering is not idempotent in ECS (every call makes a new revision), so
the request's canonical JSON is hashed and the revision carries the hash as
the tag ``deployctl:digest``: when the family's latest revision has the same
digest, it is reused and nothing is registered.  A crash between the call
and its journal record, or a second run of the same plan, never registers
the same content twice.  And with only ``image`` given, a live task
definition that already runs that image is the new one: nothing to register.

The fields kept from a described task definition are exactly the members of
botocore's ``RegisterTaskDefinition`` input shape, so what ECS adds when it
stores one (``revision``, ``status``, ``registeredAt``...) never goes back.
Registration has no undo: an unused revision serves nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from deployctl import files
from deployctl.actions import ecs_live as live
from deployctl.actions.aws import Clients
from deployctl.actions.common import ActionError
from deployctl.actions.ecs import EcsAction
from deployctl.core.kinds import StepKind
from deployctl.core.params import EcsRegisterParams
from deployctl.core.plan import Step
from deployctl.core.ports import Observation, Preview, Registry, ResourceState, StepRequest
from deployctl.core.refs import is_unresolved

DIGEST_TAG = "deployctl:digest"


def _fields(client: Any) -> frozenset[str]:
    shape = client.meta.service_model.operation_model("RegisterTaskDefinition").input_shape
    return frozenset(shape.members)


def _digest(request: Mapping[str, Any]) -> str:
    body = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def _tag(tags: Any) -> str | None:
    return next((t.get("value") for t in tags or () if t.get("key") == DIGEST_TAG), None)


def _own_tags(tags: Any) -> list[dict[str, str]]:
    return [dict(t) for t in tags or () if t.get("key") != DIGEST_TAG]


def family_state(client: Any, key: str) -> ResourceState:
    """``ecs-task-definition REGION FAMILY``: the family's latest revision."""
    family = key.rsplit(" ", 1)[1]
    try:
        found = client.describe_task_definition(taskDefinition=family, include=["TAGS"])
    except ClientError as exc:
        if live.not_found(exc):
            return ResourceState(key, None, "(no revision yet)")
        raise
    td = found["taskDefinition"]
    images = {str(c["name"]): str(c.get("image")) for c in td.get("containerDefinitions") or ()}
    state = {"latest": td["taskDefinitionArn"], "digest": _tag(found.get("tags")), "images": images}
    shown = ", ".join(f"{k}: {v}" for k, v in sorted(images.items()))
    return ResourceState(key, state, f"latest {live.short(td['taskDefinitionArn'])} ({shown})")


class Register(EcsAction):
    """``ecs.register``: outputs ``task_definition`` (an ARN) and ``image``."""

    def _file(self, path: str, kind: str) -> dict[str, Any]:
        why = files.check(path, files.MAX_TASK_DEFINITION_BYTES, "task definition")
        if why or not os.path.isfile(path):
            raise ActionError(kind, f"{path}: {why or 'no such file'}")
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError) as exc:
            raise ActionError(kind, f"{path}: not a JSON task definition ({exc})") from None
        if not isinstance(data, dict) or "family" not in data or "containerDefinitions" not in data:
            raise ActionError(kind, f"{path}: needs 'family' and 'containerDefinitions'")
        return data

    def wanted(self, step: Step, p: EcsRegisterParams) -> tuple[dict[str, Any], str | None]:
        """The registration request (without our tag), and the base ARN if
        the base itself already is it (nothing to register)."""
        kind, client = step.kind, self.ecs(step)
        fields = _fields(client)
        if p.file:
            raw = self._file(str(p.file), kind)
            unknown = sorted(set(raw) - fields)
            if unknown:
                raise ActionError(
                    kind,
                    f"{p.file}: {', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} "
                    "not RegisterTaskDefinition fields",
                )
            request, base = dict(raw), None
        else:
            base = str(p.base)
            found = client.describe_task_definition(taskDefinition=base, include=["TAGS"])
            request = {k: v for k, v in found["taskDefinition"].items() if k in fields}
            request["tags"] = found.get("tags")
        if _own_tags(request.get("tags")):
            request["tags"] = _own_tags(request.get("tags"))
        else:
            request.pop("tags", None)
        image = p.image
        if image:
            containers = request["containerDefinitions"] = [
                dict(c) for c in request["containerDefinitions"]
            ]
            name = self._container(p, containers, kind)
            target = next(c for c in containers if c.get("name") == name)
            if base is not None and target.get("image") == image:
                return request, base
            target["image"] = image
        return request, None

    def _container(self, p: EcsRegisterParams, containers: list[dict[str, Any]], kind: str) -> str:
        names = [str(c.get("name")) for c in containers]
        name = p.container or p.serving_container
        if not name and len(names) == 1:
            return names[0]
        if not name or name not in names:
            raise ActionError(
                kind,
                f"which container runs image {p.image}? "
                f"{'container ' + repr(name) + ' is not in the task definition; it' if name else 'the task definition'} "
                f"has {', '.join(names)}: set deploy.ecs.container",
            )
        return str(name)

    def _latest(self, step: Step, family: str) -> tuple[str | None, str | None]:
        state = family_state(self.ecs(step), f"ecs-task-definition {step.region} {family}").state
        return (state["latest"], state["digest"]) if state else (None, None)

    def _image(self, request: Mapping[str, Any], p: EcsRegisterParams) -> str | None:
        if p.image:
            return str(p.image)
        containers = request.get("containerDefinitions") or []
        return str(containers[0].get("image")) if len(containers) == 1 else None

    def observe(self, request: StepRequest) -> Observation:
        wanted, same = self.wanted(request.step, EcsRegisterParams.from_params(request.params))
        if same:
            return Observation(True, {"task_definition": same}, "the live task definition")
        latest, digest = self._latest(request.step, str(wanted["family"]))
        if latest and digest == _digest(wanted):
            return Observation(True, {"task_definition": latest}, f"{live.short(latest)} is it")
        return Observation(False, detail="not registered yet")

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        p = EcsRegisterParams.from_params(request.params)
        wanted, same = self.wanted(request.step, p)
        image = self._image(wanted, p)
        if same:
            return {"task_definition": same, "image": image, "registered": False}
        digest = _digest(wanted)
        latest, found = self._latest(request.step, str(wanted["family"]))
        if latest and found == digest:
            return {"task_definition": latest, "image": image, "registered": False}
        tags = [*(wanted.get("tags") or []), {"key": DIGEST_TAG, "value": digest}]
        made = self.ecs(request.step).register_task_definition(**(wanted | {"tags": tags}))
        arn = made["taskDefinition"]["taskDefinitionArn"]
        return {"task_definition": arn, "image": image, "registered": True}

    # -- the plan diff -----------------------------------------------------------

    def _family(self, p: EcsRegisterParams) -> str | None:
        if p.file:
            try:
                return str(self._file(str(p.file), StepKind.ECS_REGISTER)["family"])
            except ActionError:
                return None
        base = str(p.base or "")
        return None if is_unresolved(base) or not base else live.family_of(base)

    def resources(self, step: Step, params: Mapping[str, Any]) -> tuple[str, ...]:
        family = self._family(EcsRegisterParams.from_params(params))
        return (f"ecs-task-definition {step.region} {family or '${family}'}",)

    def preview(self, step: Step, params: Mapping[str, Any], states: Mapping[str, Any]) -> Preview:
        p = EcsRegisterParams.from_params(params)
        (key,) = self.resources(step, params)
        state = states[key]
        family = key.rsplit(" ", 1)[1]
        if p.file:
            wanted, _ = self.wanted(step, p)
            if state and state.get("digest") == _digest(wanted):
                return Preview(
                    f"{live.short(state['latest'])} (reused)",
                    False,
                    outputs={"task_definition": state["latest"]},
                )
        elif state and p.base == state["latest"]:
            container = p.container or p.serving_container
            images = state.get("images") or {}
            if p.image in (
                images.get(str(container)),
                *(images.values() if len(images) == 1 else ()),
            ):
                return Preview(
                    f"{live.short(state['latest'])} (the live one)",
                    False,
                    outputs={"task_definition": state["latest"]},
                )
        revision = int(live.short(state["latest"]).rsplit(":", 1)[1]) + 1 if state else 1
        shown = f"{family}:{revision}" + (f" (image {p.image})" if p.image else "")
        after = dict(state or {}) | {"latest": f"{family}:{revision}"}
        predicted = {"task_definition": f"{family}:{revision}"}
        return Preview(shown, True, {key: after}, outputs=predicted)


def register(registry: Registry, clients: Clients) -> None:
    registry.register(StepKind.ECS_REGISTER, Register(clients))
