"""ALB blue/green: read and set the weights of a forward action.

The forward action is the listener's default action, or a rule's when the
target names ``rule_arn``.  A plain forward to one target group counts as
100% to it.  Writes replace the action list with the same actions, only the
forward action's ``ForwardConfig`` changed (other actions, their order, and
stickiness stay as they were).

Traffic safety, both ways: a write that gives a side more traffic (a shift
forward, or an undo back to blue) first waits for that side's target group
to be healthy (:func:`~deployctl.actions.target_health.wait_healthy`), and
fails naming the targets if it is not; a side that loses all its traffic
drains for its target group's deregistration delay (or the plan's
``drain``) before it is called drained (``alb.drain`` forward, the rollback
after an undo).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deployctl.actions.aws import Clients
from deployctl.actions.common import COLORS, ActionError, CheckAction, ReadAction, other
from deployctl.actions.target_health import Unhealthy, deregistration_delay, wait_healthy
from deployctl.core.kinds import StepKind
from deployctl.core.params import AlbDiscoverParams, AlbDrainParams, AlbListener, AlbShiftParams
from deployctl.core.plan import Step
from deployctl.core.ports import (
    PASS,
    Action,
    CheckResult,
    Observation,
    Preview,
    Registry,
    ResourceState,
    StepRequest,
)
from deployctl.core.refs import is_unresolved
from deployctl.errors import ResourceChanged

Weights = dict[str, int]  # colour -> weight


def _forward(actions: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((a for a in actions if a.get("Type") == "forward"), None)


class _Listener:
    """The forward action of one listener or rule, read once per call."""

    def __init__(self, clients: Clients, step: Step, target: AlbListener) -> None:
        self.kind = step.kind
        self.target = target
        self.client = clients.client("elbv2", step.region)
        self.groups = {
            "blue": str(target.blue_target_group),
            "green": str(target.green_target_group),
        }

    def read(self) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """The action list and the forward action's weights by target group ARN."""
        rule = self.target.rule_arn
        if rule:
            actions = self.client.describe_rules(RuleArns=[rule])["Rules"][0]["Actions"]
        else:
            listener = self.target.listener_arn
            found = self.client.describe_listeners(ListenerArns=[listener])["Listeners"]
            actions = found[0]["DefaultActions"]
        forward = _forward(actions)
        if forward is None:
            raise ActionError(self.kind, f"{rule or self.target.listener_arn}: no forward action")
        groups = (forward.get("ForwardConfig") or {}).get("TargetGroups")
        if groups:
            weights = {g["TargetGroupArn"]: int(g.get("Weight", 1)) for g in groups}
        else:
            weights = {forward["TargetGroupArn"]: 100}
        return actions, weights

    def weights(self, by_arn: Mapping[str, int] | None = None) -> Weights:
        if by_arn is None:
            _, by_arn = self.read()
        found = {color: by_arn.get(arn, 0) for color, arn in self.groups.items()}
        if not any(arn in by_arn for arn in self.groups.values()):
            raise ActionError(self.kind, "the forward action targets neither blue nor green")
        return found

    def write(
        self, want: Weights, read: tuple[list[dict[str, Any]], dict[str, int]] | None = None
    ) -> bool:
        """Set blue/green weights; False when they already were.  ``read`` saves
        a describe call when the caller has just made one."""
        actions, by_arn = read or self.read()
        if all(by_arn.get(self.groups[c], 0) == want[c] for c in COLORS):
            return False
        new_weights = dict(by_arn)
        new_weights.update({self.groups[c]: want[c] for c in COLORS})
        forward = _forward(actions)
        assert forward is not None  # read() raised otherwise
        config: dict[str, Any] = {
            "TargetGroups": [{"TargetGroupArn": a, "Weight": w} for a, w in new_weights.items()]
        }
        sticky = (forward.get("ForwardConfig") or {}).get("TargetGroupStickinessConfig")
        if sticky:
            config["TargetGroupStickinessConfig"] = sticky
        replaced = {
            k: v for k, v in forward.items() if k not in ("TargetGroupArn", "ForwardConfig")
        }
        replaced["ForwardConfig"] = config
        out = [replaced if a is forward else a for a in actions]
        if self.target.rule_arn:
            self.client.modify_rule(RuleArn=self.target.rule_arn, Actions=out)
        else:
            self.client.modify_listener(ListenerArn=self.target.listener_arn, DefaultActions=out)
        return True


def listener_key(step: Step, target: AlbListener) -> str:
    return f"alb-listener {step.region} {target.rule_arn or target.listener_arn}"


def read_weights(clients: Clients, step: Step, target: AlbListener) -> Weights:
    """blue/green weights of the listener (or rule) ``target`` names: for any
    target on an ALB (ECS reads it before it deploys to a side)."""
    return _Listener(clients, step, target).weights()


def listener_state(clients: Clients, step: Step, target: AlbListener, key: str) -> ResourceState:
    """The listener's weights for the plan diff (one describe call)."""
    listener = _Listener(clients, step, target)
    _, by_arn = listener.read()
    return ResourceState(key, {"weights": by_arn}, _display(listener.weights(by_arn)))


def colours(target: AlbListener, state: Mapping[str, Any]) -> Weights:
    """blue/green weights from a listener state :func:`listener_state` read."""
    return _colours(target, state["weights"])


def _display(weights: Mapping[str, int]) -> str:
    return f"blue {weights['blue']}% / green {weights['green']}% (live: {live_color(weights)})"


class _Observed(Action):
    """The plan diff of both ALB actions: one describe call per listener or rule."""

    clients: Clients

    def resources(self, step: Step, params: Mapping[str, Any]) -> tuple[str, ...]:
        return (listener_key(step, AlbListener.from_params(params)),)

    def describe(self, step: Step, params: Mapping[str, Any], key: str) -> ResourceState:
        return listener_state(self.clients, step, AlbListener.from_params(params), key)


def _colours(target: AlbListener, by_arn: Mapping[str, int]) -> Weights:
    return {
        "blue": by_arn.get(str(target.blue_target_group), 0),
        "green": by_arn.get(str(target.green_target_group), 0),
    }


def live_color(weights: Mapping[str, int]) -> str:
    """The side with the larger weight; a tie counts as blue (nothing moved yet)."""
    return "green" if weights["green"] > weights["blue"] else "blue"


def target_weights(to: str, weight: int) -> Weights:
    return {to: weight, other(to): 100 - weight}


class Discover(_Observed, ReadAction):
    """``alb.discover``: outputs ``live_color`` and ``idle_color``."""

    def __init__(self, clients: Clients) -> None:
        self.clients = clients

    def preview(self, step: Step, params: Mapping[str, Any], states: Mapping[str, Any]) -> Preview:
        target = AlbDiscoverParams.from_params(params).target
        weights = _colours(target, states[listener_key(step, target)]["weights"])
        live = live_color(weights)
        return Preview(
            _display(weights), False, outputs={"live_color": live, "idle_color": other(live)}
        )

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        target = AlbDiscoverParams.from_params(request.params).target
        live = live_color(_Listener(self.clients, request.step, target).weights())
        return {"live_color": live, "idle_color": other(live)}


def _unchanged(request: StepRequest, target: AlbListener, now: Weights, want: Weights) -> None:
    """ELBv2 has no conditional write: compare with the weights journaled
    before this step, then write.  Someone else's change stops the run as stale."""
    journaled = request.before.get("previous_weights")
    if journaled and now != want:
        expected = {c: int(journaled[c]) for c in COLORS}
        if now != expected:
            raise ResourceChanged(
                listener_key(request.step, target),
                f"{_display(expected)} as journaled before this step",
                _display(now),
            )


class Shift(_Observed):
    """``alb.shift``: ``weight``% to the side named by ``to``, the rest to the other.

    Outputs ``previous_weights`` so undo restores them exactly; ``before``
    reads them ahead of the first intent too, so a shift found already in
    place after a crash (reconciled by ``observe``) still knows them.  Only
    without either (a journal from before ``before`` existed) does undo put
    100% back on the side opposite ``to``.
    """

    def __init__(self, clients: Clients) -> None:
        self.clients = clients

    def _want(self, request: StepRequest, p: AlbShiftParams) -> Weights:
        weight = int(p.weight)
        if not 0 <= weight <= 100:
            raise ActionError(request.step.kind, f"weight {weight} is not a percentage")
        return target_weights(str(p.to), weight)

    def _listener(self, request: StepRequest) -> tuple[_Listener, AlbShiftParams]:
        p = AlbShiftParams.from_params(request.params)
        return _Listener(self.clients, request.step, p.target), p

    def preview(self, step: Step, params: Mapping[str, Any], states: Mapping[str, Any]) -> Preview:
        p = AlbShiftParams.from_params(params)
        key = listener_key(step, p.target)
        by_arn = dict(states[key]["weights"])
        if is_unresolved(p.to):
            return Preview(f"{p.weight}% to the side found at run time", True)
        want = target_weights(str(p.to), int(p.weight))
        if _colours(p.target, by_arn) == want:
            return Preview(_display(want), False)
        by_arn[str(p.target.blue_target_group)] = want["blue"]
        by_arn[str(p.target.green_target_group)] = want["green"]
        return Preview(_display(want), True, {key: {"weights": by_arn}})

    def observe(self, request: StepRequest) -> Observation:
        listener, p = self._listener(request)
        now = listener.weights()
        want = self._want(request, p)
        if now != want:
            return Observation(applied=False, detail=f"weights are {now}")
        return Observation(applied=True, detail=f"weights already {now}")

    def before(self, request: StepRequest) -> Mapping[str, Any]:
        listener, _ = self._listener(request)
        return {"previous_weights": listener.weights()}

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        listener, p = self._listener(request)
        read = listener.read()
        previous = listener.weights(read[1])
        want = self._want(request, p)
        _unchanged(request, p.target, previous, want)
        health = _receiving_healthy(listener, request, previous, want)
        if health:  # the wait may have been long: read again, and compare again
            read = listener.read()
            _unchanged(request, p.target, listener.weights(read[1]), want)
        listener.write(want, read)
        return {"previous_weights": previous, "health": health}

    def undo(self, request: StepRequest, outputs: Mapping[str, Any]) -> Mapping[str, Any]:
        listener, p = self._listener(request)
        previous = outputs.get("previous_weights")
        if previous:
            want = {c: int(previous[c]) for c in COLORS}
        else:
            want = target_weights(other(str(p.to)), 100)
        now = listener.weights()
        # Rolling back onto a side with no healthy target would be an outage
        # of its own: the undo fails (exit 7) and traffic stays where it is.
        health = _receiving_healthy(listener, request, now, want, cancel=False)
        listener.write(want)
        left = [c for c in COLORS if now[c] > 0 and want[c] == 0]
        out: dict[str, Any] = {"health": health} if health else {}
        if left:
            out["drain_seconds"] = max(_drain_seconds(listener, c) for c in left)
        return out


def _receiving_healthy(
    listener: _Listener,
    request: StepRequest,
    now: Mapping[str, int],
    want: Mapping[str, int],
    *,
    cancel: bool = True,
) -> dict[str, Any]:
    """Wait until every side that gains traffic is healthy; what was found, by colour.

    A rollback runs with the run's halt set, so its undo waits without a
    cancel (bounded by ``health_timeout``)."""
    out: dict[str, Any] = {}
    for color in COLORS:
        if want[color] > now[color]:
            try:
                found = wait_healthy(
                    listener.client,
                    listener.groups[color],
                    min_healthy=int(listener.target.min_healthy or 1),
                    timeout=float(listener.target.health_timeout),
                    clock=request.clock,
                    cancel=request.cancel if cancel else None,
                )
            except Unhealthy as exc:
                raise ActionError(request.step.kind, f"{color} side: {exc}") from None
            out[color] = found.to_json()
    return out


def _drain_seconds(listener: _Listener, color: str) -> float:
    if listener.target.drain is not None:
        return float(listener.target.drain)
    return deregistration_delay(listener.client, listener.groups[color])


class Drain(CheckAction):
    """``alb.drain``: after the promotion, wait while the side traffic left
    (``from``) finishes its requests: its target group's deregistration
    delay, or the plan's ``drain``.  Until then the old side is not called
    drained, and nothing after this step (a clean-up, the next run) may
    retire it."""

    def __init__(self, clients: Clients) -> None:
        self.clients = clients

    def window(self, request: StepRequest) -> float:
        p = AlbDrainParams.from_params(request.params)
        listener = _Listener(self.clients, request.step, p.target)
        return _drain_seconds(listener, str(p.from_))

    def check(self, request: StepRequest) -> CheckResult:
        p = AlbDrainParams.from_params(request.params)
        side = str(p.from_)
        weights = _Listener(self.clients, request.step, p.target).weights()
        return CheckResult(PASS, detail=f"{side} at {weights[side]}%, finishing its requests")


def register(registry: Registry, clients: Clients) -> None:
    registry.register(StepKind.ALB_DISCOVER, Discover(clients))
    registry.register(StepKind.ALB_SHIFT, Shift(clients))
    registry.register(StepKind.ALB_DRAIN, Drain(clients))
