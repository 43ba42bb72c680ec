"""The pull-request flow on the three example plans, as real subprocesses
against a moto server: ``plan --format markdown --out FILE`` shows every
change (exit 2, compared with a golden file), ``apply FILE`` runs exactly the
reviewed plan, and ``plan`` afterwards finds nothing left to change (exit 0).

Golden files: ``tests/e2e/golden/<plan>.md``, with the identifiers moto makes
up (ARNs, zone ids, revision ids) replaced by their names.  After a deliberate
change to the output, rewrite them with ``DEPLOYCTL_REGEN_GOLDEN=1 pytest
tests/e2e/test_reviewed_plans.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import pytest

from deployctl.output.diff import short_arn
from deployctl.testing.aws import around_now
from deployctl.testing.cli import run_cli
from deployctl.testing.http import http_side
from deployctl.testing.moto import MotoServer
from deployctl.testing.worlds import ROOT, fraud, media, people

# Plans that are not convergent: what a second apply would change.
TOGGLES = {
    "media-register": [
        "alb-listener us-east-1 <listener>",
        "cloudformation-stack us-east-1 media-register-prod-blue",
    ],
}
GOLDEN = Path(__file__).parent / "golden"
SCHEMA = json.loads((ROOT / "schemas" / "plan-output-v1.schema.json").read_text())


@dataclass
class Example:
    """One example plan on its moto world: the apply argv and the names of
    the identifiers moto made up, for the golden file."""

    argv: tuple[str, ...]
    names: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)


def _fraud(server: MotoServer, state: Path) -> Iterator[Example]:
    fraud.build(server)
    server.lambda_answers({"statusCode": 200})
    fraud.metrics(server, around_now(), errors=0.0, duration=120.0)
    yield Example(fraud.apply_argv(server, state))


def _media(server: MotoServer, state: Path) -> Iterator[Example]:
    arns = media.build(server)
    media.metrics(server, arns, around_now(), errors=0.0, seconds=0.05)
    with http_side() as side:
        names = {arn: f"<{name}>" for name, arn in arns.items()}
        names[side.base] = "<smoke server>"
        yield Example((*media.apply_argv(server, state, arns, side.base), "--auto-approve"), names)


def _people(server: MotoServer, state: Path) -> Iterator[Example]:
    zone = people.build(server)
    people.healthy(server)
    server.lambda_answers({"migrated": 1200})
    yield Example(
        people.apply_argv(server, state, zone, "--auto-approve"), {zone: "<zone>"}, people.ENV
    )


WORLDS: dict[str, Callable[[MotoServer, Path], Iterator[Example]]] = {
    "fraud-or-not": _fraud,
    "media-register": _media,
    "people-cards": _people,
}


def _plan_argv(example: Example, *extra: str) -> tuple[str, ...]:
    argv = [a for a in example.argv if a != "--auto-approve"]
    argv[0] = "plan"
    return (*argv, "--detailed-exitcode", *extra)


def _normalise(text: str, names: dict[str, str]) -> str:
    # the comment's rows show ARNs cut short: their made-up ids too
    short = {short_arn(raw): name for raw, name in names.items() if raw.startswith("arn:")}
    names = {**short, **names, str(ROOT): "<repo>"}
    for raw, name in sorted(names.items(), key=lambda item: -len(item[0])):
        text = text.replace(raw, name)
    # The digest covers the vars, which hold those identifiers.
    text = re.sub(r"digest `[0-9a-f]{12}`", "digest `<digest>`", text)
    # Revision ids and other uuids moto generates per run.
    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uuid>", text)


def _check_golden(name: str, text: str) -> None:
    path = GOLDEN / f"{name}.md"
    if os.environ.get("DEPLOYCTL_REGEN_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{path} differs: regenerate and review"


@contextmanager
def _world(name: str, server: MotoServer, state: Path) -> Iterator[Example]:
    gen = WORLDS[name](server, state)
    try:
        yield next(gen)
    finally:
        gen.close()


@pytest.mark.parametrize("name", sorted(WORLDS))
def test_plan_shows_changes_apply_runs_the_reviewed_plan_then_nothing_changes(
    name: str, moto_server: MotoServer, tmp_path: Path
) -> None:
    saved = tmp_path / "reviewed.json"
    with _world(name, moto_server, tmp_path / "state") as example:
        md = run_cli(
            *_plan_argv(example, "--format", "markdown", "--out", str(saved)), env=example.env
        )
        assert md.returncode == 2, md.stdout + md.stderr
        _check_golden(name, _normalise(md.stdout, example.names))
        assert len(md.stdout) < 65_000

        before = run_cli(*_plan_argv(example, "--format", "json"), env=example.env)
        assert before.returncode == 2, before.stderr
        data = json.loads(before.stdout)
        jsonschema.validate(data, SCHEMA)
        assert data["changes"] is True
        assert any(r["status"] == "change" for r in data["resources"])

        apply_argv = ("apply", str(saved), *example.argv[2:])
        done = run_cli(*apply_argv, env=example.env, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr

        after = run_cli(*_plan_argv(example, "--format", "json"), env=example.env)
        data = json.loads(after.stdout)
        jsonschema.validate(data, SCHEMA)
        changed = [
            _normalise(r["key"], example.names)
            for r in data["resources"]
            if r["status"] == "change"
        ]
        assert data["resources"], "the plan reads live resources"
        if name in TOGGLES:
            # Applied again, blue-green would put the same version on the
            # other side and switch back (docs/cli.md).
            assert after.returncode == 2
            assert changed == TOGGLES[name], after.stdout
        else:
            assert (after.returncode, changed) == (0, []), after.stdout + after.stderr


def test_a_listener_weight_changed_by_hand_after_review_stops_apply_before_anything_is_sent(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    saved = tmp_path / "reviewed.json"
    with _world("media-register", moto_server, tmp_path / "state") as example:
        planned = run_cli(*_plan_argv(example, "--out", str(saved)))
        assert planned.returncode == 2, planned.stderr
        arns = {name.strip("<>"): raw for raw, name in example.names.items()}
        elb = moto_server.client("elbv2")
        half = [
            {"TargetGroupArn": arns[f"{c}_target_group"], "Weight": 50} for c in ("blue", "green")
        ]
        elb.modify_listener(  # someone moves half the traffic by hand
            ListenerArn=arns["listener"],
            DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": half}}],
        )

        done = run_cli("apply", str(saved), *example.argv[2:])

        assert done.returncode == 5, done.stdout + done.stderr
        was = f"alb-listener us-east-1 {arns['listener']}: blue 100% / green 0% (live: blue) -> "
        assert was in done.stderr
        assert "nothing was sent" in done.stderr
        assert media.weights(moto_server, arns) == {"blue": 50, "green": 50}
        assert media.stacks(moto_server) == []
        assert "starting run" not in done.stdout  # no run was even created


def test_plan_change_sets_lists_the_stacks_changes_and_leaves_no_trace(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    with _world("media-register", moto_server, tmp_path / "state") as example:
        md = run_cli(*_plan_argv(example, "--format", "markdown", "--change-sets"), env=example.env)
        assert md.returncode == 2, md.stdout + md.stderr
        row = next(
            line
            for line in md.stdout.splitlines()
            if line.startswith("| ~ | `cloudformation-stack")
        )
        assert "Add AWS::SSM::Parameter" in row and "template " not in row
        assert not media.stacks(moto_server)  # the change set's empty stack was deleted
