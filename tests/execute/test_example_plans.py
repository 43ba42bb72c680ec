"""Every example plan in plans/ runs on the fake world, and rolls back as its
plan says (people-cards stops at its one-way door)."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import pytest

from deployctl.commands._load import load_plan
from deployctl.execute.runner import Options

ROOT = Path(__file__).resolve().parents[2]
PLANS = sorted((ROOT / "plans").glob("*.yaml"))


def compiled(path: Path):
    args = argparse.Namespace(var=[], vars_file=[], region=None)
    return load_plan(str(path), args)


@pytest.mark.parametrize("path", PLANS, ids=[p.stem for p in PLANS])
def test_each_example_plan_runs_to_the_end_applying_each_step_once(path, make_executor, world):
    plan = compiled(path)
    world.data["metrics"]["*"] = {"ErrorRate": 0.0, "Latency": 50.0}
    outcome = make_executor().apply(plan, Options(auto_approve=True))
    assert outcome.exit_code == 0, outcome.message
    mutating = [s.id for s in plan.steps if s.mutating]
    assert Counter(world.ops("apply")) == Counter(mutating)
    unresolved = [sid for sid, entry in world.state.items() if "${" in str(entry["params"])]
    assert unresolved == []


def test_a_failure_after_the_migration_cleanup_stops_rollback_at_that_door(make_executor, world):
    plan = compiled(ROOT / "plans" / "people-cards.yaml")
    door = next(s for s in plan.steps if s.one_way)
    after = next(s for s in plan.steps if door.id in s.deps and s.mutating)
    world.data["metrics"]["*"] = {"ErrorRate": 0.0, "Latency": 50.0}
    world.data["fail"][after.id] = 1
    outcome = make_executor().apply(plan, Options(auto_approve=True))
    assert outcome.exit_code == 7
    assert door.id in outcome.message
    applied = world.ops("apply")
    undone = world.ops("undo")
    # Only what completed after the door is undone, newest first; the door stays.
    assert door.id in applied and door.id not in world.ops("undo")
    later = applied[applied.index(door.id) + 1 :]
    assert undone == [sid for sid in reversed(later) if plan.by_id[sid].undo is not None]
    assert outcome.left[0].startswith(door.id)
