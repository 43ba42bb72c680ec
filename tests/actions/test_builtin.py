"""``register_aws`` covers every step kind the planner emits that this
package owns (approvals, gates and noop are registered elsewhere)."""

from __future__ import annotations

import boto3

from deployctl.actions.aws import Clients
from deployctl.actions.builtin import register_aws
from deployctl.core.ports import Registry
from deployctl.testing.fake import CHECK_KINDS, MUTATING_KINDS, READ_KINDS

ELSEWHERE = {"noop"}


def test_every_aws_and_local_kind_is_registered_once(aws: None) -> None:
    registry = Registry()
    register_aws(registry, Clients(session=boto3.Session(region_name="us-east-1")))
    wanted = set(MUTATING_KINDS + READ_KINDS + CHECK_KINDS) - ELSEWHERE
    assert set(registry.kinds()) == wanted


def test_smoke_steps_are_gates_and_shifts_are_not(aws: None) -> None:
    registry = Registry()
    register_aws(registry, Clients(session=boto3.Session(region_name="us-east-1")))
    assert registry.get("smoke.http").gate
    assert registry.get("smoke.lambda").gate
    assert not registry.get("lambda.shift").gate


def test_every_step_kind_of_the_example_plans_has_an_aws_action(aws: None) -> None:
    import argparse
    from pathlib import Path

    from deployctl.actions.registry import default_registry
    from deployctl.commands._load import load_plan

    registry = default_registry(plugins=False)
    register_aws(registry, Clients(session=boto3.Session(region_name="us-east-1")))
    plans = sorted((Path(__file__).resolve().parents[2] / "plans").glob("*.yaml"))
    args = argparse.Namespace(var=[], vars_file=[], region=None)
    kinds = {s.kind for p in plans for s in load_plan(str(p), args).steps}
    assert plans and kinds - {"approval"} <= set(registry.kinds())
