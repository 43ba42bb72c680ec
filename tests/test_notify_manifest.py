"""notify: in a plan file: the schema, the model, the secret URL, the stored plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deployctl.cli import main
from deployctl.execute.stored import plan_from_json, stored_plan

PLAN = """\
apiVersion: deployctl/v1
kind: Deployment
metadata: {project: web, environment: prod}
target:
  lambda: {function: api, alias: live}
strategy: {type: all-at-once}
notify:
  on: [rollback, failed]
  sns: [arn:aws:sns:us-east-1:123456789012:deploys]
  webhooks:
    - url_env: SLACK_URL
      on: [succeeded]
    - url: https://hooks.example.com/services/T0/B0/sekrit
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    return str(path)


def compiled(capsys: pytest.CaptureFixture[str], path: str) -> dict:  # type: ignore[type-arg]
    assert main(["plan", path, "--offline", "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_notify_compiles_into_the_plan_with_its_events(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = compiled(capsys, write(tmp_path, PLAN))
    notify = data["notify"]
    assert notify["on"] == ["rollback", "failed"]
    assert notify["sns"] == ["arn:aws:sns:us-east-1:123456789012:deploys"]
    assert notify["webhooks"][0] == {"url": None, "url_env": "SLACK_URL", "on": ["succeeded"]}
    # a webhook's own events default to notify.on
    assert notify["webhooks"][1]["on"] == ["rollback", "failed"]


def test_a_webhook_url_in_the_plan_is_a_secret(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = compiled(capsys, write(tmp_path, PLAN))
    text = json.dumps(data)
    assert "sekrit" not in text and "<redacted:" in text


def test_the_stored_plan_keeps_notify_and_hides_the_url(tmp_path: Path) -> None:
    from argparse import Namespace

    from deployctl.commands._load import load_plan

    args = Namespace(
        var=[], vars_file=[], region=None, profile=None, endpoint_url=None, state_dir=".deployctl"
    )
    plan = load_plan(
        write(
            tmp_path,
            PLAN.replace("    - url: https://hooks.example.com/services/T0/B0/sekrit\n", ""),
        ),
        args,
    )
    again = plan_from_json(stored_plan(plan), plan.source, plan.digest)
    assert again.notify == plan.notify and again.digest == plan.digest
    secret = load_plan(write(tmp_path, PLAN), args)
    assert "sekrit" not in json.dumps(stored_plan(secret))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("  sns: [arn:aws:sqs:us-east-1:123456789012:q]", "an SNS topic ARN"),
        ("  on: [deployed]", "deployed"),
        ("  webhooks: [{url: ftp://x}]", "a webhook url starts with https://"),
    ],
)
def test_notify_mistakes_point_at_the_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, line: str, message: str
) -> None:
    text = PLAN.split("notify:\n", maxsplit=1)[0] + "notify:\n" + line + "\n"
    path = write(tmp_path, text)
    assert main(["validate", path]) == 1
    err = capsys.readouterr().err
    assert f"{path}:8:" in err and message in err
