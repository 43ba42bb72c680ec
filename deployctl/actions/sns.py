"""Notifications to SNS topics (``notify: sns:``), through the shared clients.

The message is sent with ``MessageStructure=json``: e-mail subscribers get
the readable text, every other protocol (SQS, Lambda, HTTPS) the whole JSON
payload, so a subscriber can act on the run id and event.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from deployctl.actions.aws import Clients
from deployctl.core.ports import Sender


class SnsSender(Sender):
    def __init__(self, clients: Clients) -> None:
        self.clients = clients

    def send(self, target: str, subject: str, payload: Mapping[str, Any]) -> None:
        region = target.split(":")[3] if target.count(":") >= 5 else None
        body = json.dumps(payload, sort_keys=True)
        message = {"default": body, "email": str(payload.get("text") or subject)}
        self.clients.client("sns", region or None).publish(
            TopicArn=target,
            Subject=subject,
            Message=json.dumps(message),
            MessageStructure="json",
        )
