"""The live-diff renderers, without AWS: the JSON schema, the markdown limit."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from deployctl.core.plan import Plan, Step
from deployctl.core.ports import ResourceState
from deployctl.execute.observe import Observed, StepPreview
from deployctl.output import diff as diffview

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


def canary() -> tuple[Plan, Observed]:
    """A canary in two regions with an approval, as the live diff sees it."""
    listener = (
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:"
        "listener/app/media-register/50dc6c495c0c9188/f2f7dc8efc522ab2"
    )
    steps, states, previews = [], {}, []
    for region in ("us-east-1", "eu-west-1"):
        shift = Step(
            f"{region}/canary/stage-1/shift",
            "lambda.shift",
            "alias live: 10%",
            region=region,
            tags=("stage:1",),
            traffic=10,
            deps=(("us-east-1/canary/stage-2/analysis",) if region == "eu-west-1" else ()),
        )
        gate = Step(
            f"{region}/canary/stage-1/analysis",
            "gate.analysis",
            "analysis 10m: ErrorRate <= 0.01",
            deps=(shift.id,),
            region=region,
            tags=("stage:1",),
            traffic=10,
            wait=600.0,
            mutating=False,
        )
        ok = Step(
            f"{region}/approve/promote",
            "approval",
            "promote?",
            deps=(gate.id,),
            region=region,
            tags=("phase:approval",),
            mutating=False,
        )
        last = Step(
            f"{region}/canary/stage-2/shift",
            "lambda.shift",
            "alias live: 100%",
            deps=(ok.id,),
            region=region,
            tags=("stage:2",),
            traffic=100,
        )
        bake = Step(
            f"{region}/canary/stage-2/analysis",
            "gate.analysis",
            "bake 30m",
            deps=(last.id,),
            region=region,
            tags=("stage:2",),
            traffic=100,
            wait=1800.0,
            mutating=False,
        )
        steps += [shift, gate, ok, last, bake]
    key = f"alb-listener us-east-1 {listener}"
    states[key] = ResourceState(key, {"weights": {}}, "blue 100%")
    previews.append(StepPreview("us-east-1/canary/stage-1/shift", key, "green 10%", True))
    plan = Plan(
        "Deployment", "media-register", "prod", "plans/m.yaml", tuple(steps), strategy="canary"
    )
    return plan, Observed(states, tuple(previews), {})


def test_the_live_comment_keeps_the_rollout_shape_and_draws_the_waves() -> None:
    plan, observed = canary()
    text = diffview.render_markdown(diffview.build(plan, observed))
    # what --offline shows: totals with the minimum time, stages with traffic,
    # waits, gates and approvals
    assert "- 10 steps; minimum wall time 1h20m (critical path)" in text
    assert "- approvals: us-east-1/approve/promote, eu-west-1/approve/promote" in text
    assert "| `us-east-1/stage-1` | 10% | 10m | analysis 10m: ErrorRate <= 0.01 |  |" in text
    assert "| `us-east-1/approval` |  |  |  | `us-east-1/approve/promote` |" in text
    assert "| `eu-west-1/stage-2` | 100% | 30m | bake 30m |  |" in text
    # and a mermaid graph, one subgraph per wave, the second wave after the first
    graph = text[text.index("```mermaid") :]
    graph = graph[: graph.index("```\n", 3) + 3]
    assert graph.count("subgraph") == 2 and 'subgraph w0["us-east-1"]' in graph
    assert 's0["stage-1 · 10% · 10m"]' in graph and 's1{{"approval"}}' in graph
    assert "s2 --> s3" in graph  # us-east-1 stage-2 -> eu-west-1 stage-1: waves in order


def test_resources_show_short_names_and_the_arn_in_the_details() -> None:
    plan, observed = canary()
    text = diffview.render_markdown(diffview.build(plan, observed))
    row = next(line for line in text.splitlines() if line.startswith("| ~ |"))
    assert "`alb-listener us-east-1 listener/media-register/f2f7dc8efc522ab2`" in row
    assert "arn:aws" not in row
    assert "Resource: `alb-listener us-east-1 arn:aws:elasticloadbalancing:us-east-1:" in text


def test_short_arns_keep_the_resource_and_drop_account_region_and_inner_ids() -> None:
    assert (
        diffview.short_arn(
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/blue/6d0ecf831eec9f09"
        )
        == "targetgroup/blue/6d0ecf831eec9f09"
    )
    assert (
        diffview.short_arn("arn:aws:lambda:us-east-1:123456789012:function:api-handler:live")
        == "function/api-handler/live"
    )
    assert diffview.short_key("route53-record Z123 api.example.com. CNAME") == (
        "route53-record Z123 api.example.com. CNAME"
    )


def test_change_set_changes_replace_the_template_hash() -> None:
    plan, observed = canary()
    key = next(iter(observed.resources))
    diff = diffview.build(plan, observed, {key: ("Add AWS::SSM::Parameter Settings",)})
    text = diffview.render_markdown(diff)
    assert "| blue 100% | Add AWS::SSM::Parameter Settings |" in text
    assert "Change set:\n\n- Add AWS::SSM::Parameter Settings" in text
    data = json.loads(diffview.render_json(diff))
    jsonschema.validate(data, SCHEMA)
    assert data["resources"][0]["changes"] == ["Add AWS::SSM::Parameter Settings"]
