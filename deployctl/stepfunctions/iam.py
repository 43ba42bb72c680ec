"""The least-privilege policy a translated plan's state machine role needs."""

from __future__ import annotations

from typing import Any

from deployctl.stepfunctions.asl import Machine


def policy(machine: Machine) -> dict[str, Any]:
    """One statement per AWS service the definition calls, with exactly its actions.

    Resources are ``*``: the ARNs of a run (the version it publishes, the alarms
    it names) are only known at run time, so scope the role by account and region.
    """
    by_service: dict[str, set[str]] = {}
    for action, _region in sorted(machine.resources):
        service, _, api = action.partition(":")
        api = api.removesuffix(".waitForTaskToken")
        by_service.setdefault(service, set()).add(f"{service}:{api}")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": service.capitalize(),
                "Effect": "Allow",
                "Action": sorted(actions),
                "Resource": "*",
            }
            for service, actions in sorted(by_service.items())
        ],
    }
