"""notify: a run's start, approval wait, rollback, success and failure reach
SNS (moto, read back through a subscribed SQS queue) and webhooks (a local
HTTP server); a failure to notify is logged and never changes the run."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from deployctl.actions.aws import Clients
from deployctl.actions.registry import Backend
from deployctl.actions.sns import SnsSender
from deployctl.core.plan import MetricDef, MetricQuery, Notify, Plan, Step, Webhook
from deployctl.core.ports import MultiReporter
from deployctl.execute.runner import Executor, Options
from deployctl.notify import Notifier
from deployctl.output.log import LogReporter
from deployctl.testing.clock import VirtualClock
from deployctl.testing.fake import FakeMetrics, FakeWorld, fake_registry

TOKEN = "T000/B000/XXXXsecretXXXX"


class Receiver:
    """A local webhook endpoint: /ok answers 200, anything else 500."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                body = json.loads(self.rfile.read(length))
                if self.path.startswith("/ok"):
                    received.append(body)
                    self.send_response(200)
                else:
                    self.send_response(500)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def plan(notify: Notify, *, approval: bool = False) -> Plan:
    steps = [
        Step(
            "us-east-1/canary/stage-1/shift",
            "noop",
            "shift",
            region="us-east-1",
            tags=("stage:1",),
            traffic=10,
            undo="back",
        ),
        Step(
            "us-east-1/canary/stage-1/analysis",
            "gate.analysis",
            "analysis",
            deps=("us-east-1/canary/stage-1/shift",),
            region="us-east-1",
            tags=("stage:1",),
            traffic=10,
            wait=120.0,
            mutating=False,
            params={
                "duration": 120.0,
                "interval": 60.0,
                "metric": "ErrorRate",
                "threshold": 0.01,
                "metrics": ["ErrorRate"],
            },
        ),
    ]
    if approval:
        steps.append(
            Step(
                "us-east-1/approve",
                "approval",
                "ok?",
                mutating=False,
                deps=("us-east-1/canary/stage-1/analysis",),
            )
        )
    return Plan(
        "Deployment",
        "fraud-or-not",
        "prod",
        "plans/fraud-or-not.yaml",
        tuple(steps),
        metrics={"ErrorRate": MetricDef("ErrorRate", query=MetricQuery("N", "M", "Sum"))},
        notify=notify,
    )


def run(tmp_path: Path, the_plan: Plan, notifier: Notifier, error_rate: float) -> tuple[int, str]:
    world = FakeWorld(str(tmp_path / "world.json"))
    world.data["metrics"]["*"] = {"ErrorRate": error_rate}
    clock = VirtualClock()
    out = io.StringIO()
    log = LogReporter(out, now=clock.now)
    notifier.log = log.message
    backend = Backend(fake_registry(world), clock, FakeMetrics(world))
    executor = Executor(str(tmp_path / "state"), backend, MultiReporter([log, notifier]))
    try:
        outcome = executor.apply(the_plan, Options())
    finally:
        executor.close()
    return outcome.exit_code, out.getvalue()


def test_webhooks_hear_start_and_success_with_the_summary_and_urls_stay_hidden(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    literal = receiver.url(f"/ok/{TOKEN}")
    monkeypatch.setenv("SLACK_URL", receiver.url(f"/ok/env/{TOKEN}"))
    notify = Notify(
        webhooks=(Webhook(url=literal), Webhook(url_env="SLACK_URL", events=("succeeded",)))
    )
    code, log = run(tmp_path, plan(notify), Notifier(), error_rate=0.001)
    assert code == 0
    events = [b["deployctl"]["event"] for b in receiver.bodies]
    assert events == ["started", "succeeded", "succeeded"]
    done = receiver.bodies[-1]
    assert done["text"].startswith("deployctl: fraud-or-not/prod run ")  # Slack shows "text"
    info = done["deployctl"]
    assert info["run_id"] and info["plan"] == "plans/fraud-or-not.yaml"
    assert info["stage"] == "us-east-1/stage-1" and info["status"] == "succeeded"
    assert info["summary"]["stages"][0]["checks"] == 2
    assert "summary: run" in done["text"]
    assert TOKEN not in log


def test_rollback_and_failure_are_sent_and_a_dead_webhook_only_logs(
    tmp_path: Path, receiver: Receiver
) -> None:
    dead = receiver.url(f"/broken/{TOKEN}")
    notify = Notify(webhooks=(Webhook(url=receiver.url("/ok")), Webhook(url=dead)))
    code, log = run(tmp_path, plan(notify), Notifier(), error_rate=0.5)
    assert code == 3  # rolled back: the dead webhook changed nothing
    events = [b["deployctl"]["event"] for b in receiver.bodies]
    assert events == ["started", "rollback", "failed"]
    assert receiver.bodies[-1]["deployctl"]["summary"]["undone"] == [
        "us-east-1/canary/stage-1/shift"
    ]
    failures = [line for line in log.splitlines() if "notify:" in line]
    assert len(failures) == 3  # started, rollback, failed: each logged once
    assert all("webhook 2 (127.0.0.1)" in line and "HTTP 500" in line for line in failures)
    assert TOKEN not in log


def test_waiting_for_approval_is_sent(tmp_path: Path, receiver: Receiver) -> None:
    notify = Notify(
        events=("waiting",), webhooks=(Webhook(url=receiver.url("/ok"), events=("waiting",)),)
    )
    code, _ = run(tmp_path, plan(notify, approval=True), Notifier(), error_rate=0.001)
    assert code == 6
    (body,) = receiver.bodies
    assert body["deployctl"]["event"] == "waiting"
    assert "deployctl approve" in body["text"]


def test_sns_topics_get_the_json_payload(tmp_path: Path, aws: None) -> None:
    session = boto3.Session(region_name="us-east-1")
    sns, sqs = session.client("sns"), session.client("sqs")
    topic = sns.create_topic(Name="deploys")["TopicArn"]
    queue = sqs.create_queue(QueueName="deploys")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    notifier = Notifier(sns=SnsSender(Clients(session=session)))
    code, _ = run(tmp_path, plan(Notify(sns=(topic,))), notifier, error_rate=0.001)
    assert code == 0
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    envelopes = [json.loads(m["Body"]) for m in got]
    payloads = [json.loads(e["Message"]) for e in envelopes]
    assert sorted(p["deployctl"]["event"] for p in payloads) == ["started", "succeeded"]
    assert all(e["Subject"].startswith("deployctl: fraud-or-not/prod") for e in envelopes)
    assert {p["deployctl"]["run_id"] for p in payloads} != {None}


def test_an_unreachable_topic_is_logged_not_fatal(tmp_path: Path, aws: None) -> None:
    session = boto3.Session(region_name="us-east-1")
    notifier = Notifier(sns=SnsSender(Clients(session=session, max_attempts=1)))
    missing = "arn:aws:sns:us-east-1:123456789012:nobody"
    code, log = run(tmp_path, plan(Notify(sns=(missing,))), notifier, error_rate=0.001)
    assert code == 0
    assert f"notify: started to SNS {missing} failed" in log


def test_a_rollback_by_hand_notifies_and_prints_the_summary(
    tmp_path: Path, receiver: Receiver
) -> None:
    from dataclasses import replace

    notify = Notify(webhooks=(Webhook(url=receiver.url("/ok")),))
    manual = replace(plan(notify), rollback_automatic=False)  # a failure waits for a person
    world = FakeWorld(str(tmp_path / "world.json"))
    world.data["metrics"]["*"] = {"ErrorRate": 0.5}
    clock = VirtualClock()
    backend = Backend(fake_registry(world), clock, FakeMetrics(world))
    outs = []
    for attempt in ("apply", "rollback"):
        out = io.StringIO()
        log = LogReporter(out, now=clock.now)
        notifier = Notifier(log=log.message)
        executor = Executor(str(tmp_path / "state"), backend, MultiReporter([log, notifier]))
        try:
            if attempt == "apply":
                outcome = executor.apply(manual, Options())
                assert outcome.exit_code == 1
                run_id = outcome.run_id
            else:
                assert executor.rollback(run_id).exit_code == 3
        finally:
            executor.close()
        outs.append(out.getvalue())
    events = [b["deployctl"]["event"] for b in receiver.bodies]
    assert events == ["started", "failed", "rollback", "failed"]
    assert receiver.bodies[-1]["deployctl"]["summary"]["undone"] == [
        "us-east-1/canary/stage-1/shift"
    ]
    assert "summary: run" in outs[1] and "undone: us-east-1/canary/stage-1/shift" in outs[1]
