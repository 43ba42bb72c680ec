"""The live-diff renderers, without AWS: the JSON schema, the markdown limit."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from deployctl.actions.api import ResourceState
from deployctl.execute.observe import Observed, StepPreview
from deployctl.output import diff as diffview
from deployctl.plan.api import Plan, Step

SCHEMA = json.loads(
    (Path(__file__).parents[1] / "schemas" / "plan-output-v1.schema.json").read_text()
)


def wide(n: int) -> tuple[Plan, Observed]:
    """``n`` aliases, each shifted to 100%, plus a step with nothing to compare."""
    steps, states, previews = [], {}, []
    for i in range(n):
        key = f"lambda-alias us-east-1 fn-{i:03d}:live"
        step = Step(id=f"us-east-1/fn-{i:03d}/shift", kind="lambda.shift", description="shift")
        steps.append(step)
        states[key] = ResourceState(key, {"version": "7", "weights": {}}, "v7 100%")
        previews.append(StepPreview(step.id, key, "new 100%", i % 2 == 0))
    steps.append(Step(id="us-east-1/smoke", kind="smoke.http", description="GET /health"))
    plan = Plan("Deployment", "wide", "prod", "wide.yaml", tuple(steps))
    return plan, Observed(states, tuple(previews), {})


def test_json_output_matches_its_schema() -> None:
    plan, observed = wide(3)
    data = json.loads(diffview.render_json(diffview.build(plan, observed)))
    jsonschema.validate(data, SCHEMA)
    assert data["summary"] == {"change": 2, "unchanged": 1, "every_run": 0, "not_observed": 0}
    assert data["not_compared"][0]["step"] == "us-east-1/smoke"


def test_a_500_resource_markdown_diff_stays_under_the_comment_limit() -> None:
    plan, observed = wide(500)
    text = diffview.render_markdown(diffview.build(plan, observed))
    assert len(text) < 65_000
    assert "_Truncated:" in text
    assert text.startswith("### deployctl plan: wide (prod)")
    assert "**250 to change, 250 unchanged" in text


def test_unchanged_resources_say_so_and_do_not_count_as_changes() -> None:
    plan, observed = wide(2)
    unchanged = Observed(
        observed.resources,
        tuple(StepPreview(p.step_id, p.key, p.after, False) for p in observed.previews),
        {},
    )
    diff = diffview.build(plan, unchanged)
    assert not diff.changes
    assert "= lambda-alias us-east-1 fn-000:live (unchanged): v7 100%" in diffview.render_text(diff)
    assert "\033[" in diffview.render_text(diff, colour=True)


def test_a_step_that_acts_every_run_is_shown_but_is_not_a_change() -> None:
    key = "rds-instance-snapshots us-east-1 db"
    step = Step(id="us-east-1/migration/snapshot", kind="rds.snapshot", description="snapshot")
    plan = Plan("Deployment", "db", "prod", "db.yaml", (step,))
    state = ResourceState(key, {"latest": {"id": "pre-1"}}, "latest manual: pre-1")
    every = StepPreview(step.id, key, "a new manual snapshot", True, every_run=True)
    diff = diffview.build(plan, Observed({key: state}, (every,), {}))

    assert not diff.changes
    text = diffview.render_text(diff)
    assert f"+ {key} (every run)" in text
    assert "latest manual: pre-1  ->  a new manual snapshot" in text
    assert "0 to change, 0 unchanged, 1 acted on every run" in text
    assert f"| + (every run) | `{key}` | latest manual: pre-1 | a new manual snapshot |" in (
        diffview.render_markdown(diff)
    )
    data = json.loads(diffview.render_json(diff))
    jsonschema.validate(data, SCHEMA)
    assert data["resources"][0]["status"] == "every_run"
    assert data["changes"] is False

    # The same resource changed by an ordinary step as well: a change.
    other = Step(id="us-east-1/db/modify", kind="rds.modify", description="modify")
    plan2 = Plan("Deployment", "db", "prod", "db.yaml", (step, other))
    changed = StepPreview(other.id, key, "modified", True)
    diff2 = diffview.build(plan2, Observed({key: state}, (every, changed), {}))
    assert diff2.changes and diff2.resources[0].status == "change"
