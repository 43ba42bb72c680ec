"""ALB actions against in-process moto: discover the live side, shift weights, undo."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from deployctl.actions.alb import register
from deployctl.actions.aws import Clients
from deployctl.core.ports import Registry
from deployctl.errors import ResourceChanged
from deployctl.testing.aws import Calls, request
from deployctl.testing.worlds import alb
from deployctl.testing.worlds.alb import params, weights


@pytest.fixture
def registry(clients: Clients) -> Registry:
    reg = Registry()
    register(reg, clients)
    return reg


@pytest.fixture
def lb(clients: Clients) -> dict[str, Any]:
    """A listener forwarding plainly to blue, a rule forwarding to blue too."""
    return alb.kept(clients)


def discover(registry: Registry, lb: dict[str, Any], **extra: Any) -> Any:
    return registry.get("alb.discover").apply(request("alb.discover", params(lb, **extra)))


def test_discover_counts_a_plain_forward_as_100_percent(registry: Registry, lb: Any) -> None:
    assert discover(registry, lb) == {"live_color": "blue", "idle_color": "green"}


def test_discover_follows_the_larger_weight(registry: Registry, lb: Any) -> None:
    registry.get("alb.shift").apply(request("alb.shift", params(lb, to="green", weight=60)))
    assert discover(registry, lb) == {"live_color": "green", "idle_color": "blue"}
    assert not registry.get("alb.discover").observe(request("alb.discover", params(lb))).applied


def test_shift_round_trip_and_undo_restores_the_exact_previous_weights(
    registry: Registry, lb: Any
) -> None:
    action = registry.get("alb.shift")
    first = request("alb.shift", params(lb, to="green", weight=10))
    out1 = action.apply(first)
    assert weights(lb) == {"blue": 90, "green": 10}
    second = request("alb.shift", params(lb, to="green", weight=50))
    assert not action.observe(second).applied
    out2 = action.apply(second)
    assert action.observe(second).applied
    assert out2 == {
        "previous_weights": {"blue": 90, "green": 10},
        "health": {"green": {"healthy": 1, "targets": 1}},
    }
    action.undo(second, out2)
    assert weights(lb) == {"blue": 90, "green": 10}
    action.undo(first, out1)
    assert weights(lb) == {"blue": 100, "green": 0}


def test_shifting_twice_makes_one_modify_listener_call(
    registry: Registry, lb: Any, calls: Calls
) -> None:
    req = request("alb.shift", params(lb, to="green", weight=100))
    registry.get("alb.shift").apply(req)
    registry.get("alb.shift").apply(req)
    assert calls["ModifyListener"] == 1
    assert weights(lb) == {"blue": 0, "green": 100}


def test_undo_of_a_reconciled_shift_puts_everything_back_on_the_other_side(
    registry: Registry, lb: Any
) -> None:
    req = request("alb.shift", params(lb, to="green", weight=25))
    registry.get("alb.shift").apply(req)
    seen = registry.get("alb.shift").observe(req)
    registry.get("alb.shift").undo(req, seen.outputs)
    assert weights(lb) == {"blue": 100, "green": 0}


def test_a_listener_not_as_journaled_stops_the_shift_naming_it_and_writes_nothing(
    registry: Registry, lb: Any, calls: Calls
) -> None:
    action = registry.get("alb.shift")
    req = request("alb.shift", params(lb, to="green", weight=50))
    before = action.before(req)
    assert before == {"previous_weights": {"blue": 100, "green": 0}}
    # Someone else moves the listener between the run's intent and its call.
    action.apply(request("alb.shift", params(lb, to="green", weight=10)))
    writes = calls["ModifyListener"]
    with pytest.raises(ResourceChanged) as caught:
        action.apply(replace(req, before=before))
    assert calls["ModifyListener"] == writes
    assert weights(lb) == {"blue": 90, "green": 10}
    assert str(caught.value) == (
        f"alb-listener us-east-1 {lb['listener']} changed underneath this run: blue 100% / "
        "green 0% (live: blue) as journaled before this step -> blue 90% / green 10% "
        "(live: blue); nothing was sent"
    )
    # As journaled (or already where the step wants it), the shift goes on.
    action.undo(req, {"previous_weights": {"blue": 100, "green": 0}})
    action.apply(replace(req, before=before))
    assert weights(lb) == {"blue": 50, "green": 50}
    action.apply(replace(req, before=before))


def test_shift_of_a_rule_leaves_the_default_action_alone(registry: Registry, lb: Any) -> None:
    req = request("alb.shift", params(lb, to="green", weight=30, rule_arn=lb["rule"]))
    out = registry.get("alb.shift").apply(req)
    assert weights(lb, rule=True) == {"blue": 70, "green": 30}
    assert discover(registry, lb) == {"live_color": "blue", "idle_color": "green"}
    registry.get("alb.shift").undo(req, out)
    assert weights(lb, rule=True) == {"blue": 100, "green": 0}


def test_shift_rejects_a_weight_that_is_not_a_percentage(registry: Registry, lb: Any) -> None:
    with pytest.raises(Exception, match="not a percentage"):
        registry.get("alb.shift").apply(request("alb.shift", params(lb, to="green", weight=120)))
