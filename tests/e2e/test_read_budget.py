"""The read budget of ``deployctl plan``: on each example plan against a moto
server, the AWS calls plan makes are no more than the live resources it
observed (one read each, fewer where a batch call reads several).

Calls are counted through botocore's ``before-call`` event on the session
deployctl builds; resources are the keys ``--out`` saves a fingerprint for.
``plan`` runs in this process (``deployctl.cli.main``) so the hook sees every
call; the worlds are the ones the end-to-end apply tests build.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from deployctl.cli import main
from deployctl.testing.aws import MOTO_VARS, REGION
from deployctl.testing.moto import MotoServer
from deployctl.testing.worlds import ROOT, fraud, media, people

TEMPLATE = ROOT / "plans" / "templates" / "media-register.yaml"

READ_PREFIXES = ("Get", "List", "Describe", "Head")


class CountedSessions:
    """A ``boto3.Session`` stand-in that counts every API call its clients make."""

    def __init__(self, real: Callable[..., boto3.Session]) -> None:
        self.real = real
        self.calls: Counter[str] = Counter()

    def __call__(self, *args: Any, **kwargs: Any) -> boto3.Session:
        session = self.real(*args, **kwargs)
        # Clients copy the session's handlers when made: register before any is.
        session.events.register("before-call.*.*", self._count)
        return session

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name}:{model.name}"] += 1


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[CountedSessions]:
    sessions = CountedSessions(boto3.Session)
    monkeypatch.setattr(boto3, "Session", sessions)
    yield sessions


def _fraud(server: MotoServer) -> tuple[str, ...]:
    fraud.build(server)
    return (fraud.PLAN, *MOTO_VARS)


def _media(server: MotoServer) -> tuple[str, ...]:
    arns = media.build(server)
    return (media.PLAN, *MOTO_VARS, *(a for k, v in arns.items() for a in ("--var", f"{k}={v}")))


def _media_redeploy(server: MotoServer) -> tuple[str, ...]:
    """The steady state: green, idle, still runs the last release's stack.
    Its parameters differ from the plan's, so its template is not read (a
    stack already on the wanted parameters costs a GetTemplate too)."""
    argv = _media(server)
    server.client("cloudformation").create_stack(
        StackName="media-register-prod-green",
        TemplateBody=TEMPLATE.read_text(),
        Parameters=[
            {"ParameterKey": "Version", "ParameterValue": "2024.01.19"},
            {"ParameterKey": "Color", "ParameterValue": "green"},
        ],
    )
    return argv


def _people(server: MotoServer) -> tuple[str, ...]:
    zone = people.build(server)
    return (people.PLAN, "--var", "latency_stat=Maximum", "--var", f"hosted_zone_id={zone}")


WORLDS = {
    "fraud-or-not": _fraud,
    "media-register": _media,
    "media-register-redeploy": _media_redeploy,
    "people-cards": _people,
}


@pytest.mark.parametrize("name", sorted(WORLDS))
def test_plan_reads_no_more_than_once_per_resource(
    name: str,
    moto_server: MotoServer,
    counted: CountedSessions,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = WORLDS[name](moto_server)
    saved = tmp_path / "reviewed.json"
    counted.calls.clear()  # plan's calls only, whatever built the world
    code = main(
        [
            "plan",
            *argv,
            "--endpoint-url",
            moto_server.url,
            "--region",
            REGION,
            "--format",
            "json",
            "--out",
            str(saved),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    resources = json.loads(saved.read_text())["resources"]
    calls = sum(counted.calls.values())
    writes = [op for op in counted.calls if not op.split(":")[1].startswith(READ_PREFIXES)]
    assert writes == [], "plan must only read"
    assert resources, out
    assert calls <= len(resources), (dict(counted.calls), sorted(resources))
