"""Notifications (``notify:`` in the plan): SNS topics and webhooks hear when a
run starts, waits for an approval, starts rolling back, succeeds or fails.

The :class:`Notifier` is a reporter, so the executor knows nothing of it (nor
of AWS or HTTP).  SNS goes through the actions layer
(:class:`deployctl.actions.sns.SnsSender`); webhooks are a POST of
Slack-compatible JSON (``{"text": ...}`` plus a ``deployctl`` object with
the run id, plan, stage, event and summary) through urllib.

A failure to notify is logged through ``log`` and otherwise ignored: it
never changes how a run ends.  Webhook URLs carry their token, so no message
ever shows one: a URL written in the plan is one of the plan's secrets, and
errors name a webhook by its position and host only.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from deployctl.core.ports import Sender
from deployctl.core.records import Record, RunInfo
from deployctl.execute import api, timeline
from deployctl.output import summary
from deployctl.secrets import Redactor

if TYPE_CHECKING:
    from deployctl.core.plan import Notify, Plan, Step

STARTED, WAITING, ROLLBACK, SUCCEEDED, FAILED = (
    "started",
    "waiting",
    "rollback",
    "succeeded",
    "failed",
)
TIMEOUT = 10.0  # seconds for one webhook POST: a slow receiver must not hold a run
_VERBS = {
    STARTED: "started",
    WAITING: "is waiting for approval",
    ROLLBACK: "is rolling back",
    SUCCEEDED: "succeeded",
    FAILED: "failed",
}


class WebhookSender(Sender):
    """POST the payload as JSON; any status but 2xx is an error."""

    def __init__(self, timeout: float = TIMEOUT) -> None:
        self.timeout = timeout

    def send(self, target: str, subject: str, payload: Mapping[str, Any]) -> None:
        if urlsplit(target).scheme not in ("http", "https"):
            raise ValueError("a webhook URL must start with http:// or https://")
        body = json.dumps(payload, sort_keys=True).encode()
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
            target, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
            if not 200 <= response.status < 300:
                raise OSError(f"HTTP {response.status}")


def _event(outcome: api.Outcome) -> str | None:
    if outcome.status == api.SUCCEEDED:
        return SUCCEEDED
    if outcome.status == api.WAITING:
        return WAITING
    if outcome.status in api.ENDED:
        return FAILED
    return None  # interrupted, stale: the run is not over and nobody needs to act yet


class Notifier(api.Reporter):
    """Sends the plan's notifications; see the module docstring."""

    def __init__(
        self,
        *,
        sns: Sender | None = None,
        webhook: Sender | None = None,
        log: Callable[[str], None] = lambda _text: None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.sns = sns
        self.webhook = webhook or WebhookSender()
        self.log = log
        self.environ = os.environ if environ is None else environ
        self.redact = Redactor()
        self._lock = threading.Lock()
        self._plan: Plan | None = None
        self._run: RunInfo | None = None
        self._notify: Notify | None = None
        self._stage = ""
        self._records: list[Record] = []
        self.sent: list[tuple[str, str]] = []  # (event, target description), for status lines

    # -- reporter ----------------------------------------------------------------------

    def secret(self, value: str) -> None:
        self.redact.add(value)

    def run_started(self, run: RunInfo, plan: Plan, resumed: bool) -> None:
        self.redact.add(*plan.secret_values)
        self._plan, self._run, self._notify = plan, run, plan.notify
        if not resumed:
            self._send(STARTED, None)

    def history(self, records: Sequence[Record]) -> None:
        with self._lock:
            self._records[:0] = list(records)

    def step_started(self, step: Step, attempt: int) -> None:
        self._stage = timeline.stage_of(step)

    def record(self, record: Record) -> None:
        with self._lock:
            self._records.append(record)
        if record.type == api.ROLLBACK_STARTED:
            self._send(ROLLBACK, None, str(record.data.get("reason") or ""))

    def run_finished(self, outcome: api.Outcome) -> None:
        event = _event(outcome)
        if event is not None:
            self._send(event, outcome)

    # -- sending --------------------------------------------------------------------------

    def payload(self, event: str, outcome: api.Outcome | None, detail: str = "") -> dict[str, Any]:
        """The JSON every target gets (redacted)."""
        plan, run = self._plan, self._run
        assert plan is not None and run is not None
        tl = None
        lines: list[str] = []
        if event != STARTED:
            with self._lock:
                records = list(self._records)
            status = outcome.status if outcome is not None else run.status
            tl = timeline.build(plan, records, replace(run, status=status))
            lines = summary.render_text(tl)
        message = outcome.message if outcome is not None else detail
        text = f"deployctl: {plan.project}/{plan.environment} run {run.run_id} {_VERBS[event]}"
        if self._stage:
            text += f" (stage {self._stage})"
        if message:
            text += f": {message}"
        if outcome is not None and outcome.left:
            text += "\n" + "\n".join(str(item) for item in outcome.left)
        if lines:
            text += "\n```\n" + "\n".join(lines) + "\n```"
        body = {
            "text": text,
            "deployctl": {
                "event": event,
                "run_id": run.run_id,
                "project": plan.project,
                "environment": plan.environment,
                "plan": plan.source,
                "digest": plan.digest,
                "stage": self._stage or None,
                "status": outcome.status if outcome is not None else run.status,
                "message": message,
                "summary": tl.to_json() if tl is not None else None,
            },
        }
        redacted: dict[str, Any] = self.redact.data(body)
        return redacted

    def _targets(self, event: str) -> list[tuple[Sender, str, str]]:
        notify = self._notify
        if notify is None:
            return []
        out: list[tuple[Sender, str, str]] = []
        if self.sns is not None and event in notify.events:
            out += [(self.sns, arn, f"SNS {arn}") for arn in notify.sns]
        for n, hook in enumerate(notify.webhooks, 1):
            if event not in hook.events:
                continue
            url = hook.url or self.environ.get(hook.url_env or "", "")
            if not url:
                self.log(f"notify: webhook {n}: ${hook.url_env} is not set; not sent")
                continue
            self.redact.add(url)
            out.append((self.webhook, url, f"webhook {n} ({urlsplit(url).hostname or '?'})"))
        if notify.sns and self.sns is None and event in notify.events:
            self.log("notify: SNS topics are not reachable from this backend; not sent")
        return out

    def _send(self, event: str, outcome: api.Outcome | None, detail: str = "") -> None:
        targets = self._targets(event)
        if not targets:
            return
        try:
            body = self.payload(event, outcome, detail)
        except Exception as exc:  # a notification must never change how a run ends
            self.log(f"notify: could not build the {event} message: {type(exc).__name__}")
            return
        plan, run = self._plan, self._run
        assert plan is not None and run is not None
        subject = self.redact(f"deployctl: {plan.project}/{plan.environment} {_VERBS[event]}")[:100]
        for sender, target, name in targets:
            try:
                sender.send(target, subject, body)
                self.sent.append((event, name))
            except Exception as exc:
                why = (
                    str(exc) if not isinstance(exc, urllib.error.HTTPError) else f"HTTP {exc.code}"
                )
                # urllib's messages can quote the URL: hide every known secret, the URL first
                self.log(
                    f"notify: {event} to {name} failed: {self.redact(why) or type(exc).__name__}"
                )
