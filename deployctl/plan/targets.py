"""One planner per target kind: what each target contributes to a region's
chain (learn the live side, shift traffic stage by stage behind gates, what
follows the promotion, what is cleaned up after the watch).  Pure data, no AWS.

:class:`TargetPlanner` is the interface; the ALB, Route 53 and CloudFront
planners are here, Lambda's in ``lambda_.py``, CloudFormation's in
``cloudformation.py``, ECS's in ``ecs.py``, and ``deployment.py`` looks a
target's planner up by its model type (``PLANNERS``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Generic, NamedTuple, TypeVar

from deployctl.core.params import (
    AlbDiscoverParams,
    AlbDrainParams,
    AlbListener,
    AlbShiftParams,
    CloudFrontDiscoverParams,
    CloudFrontDistribution,
    CloudFrontShiftParams,
    Route53DiscoverParams,
    Route53Record,
    Route53ShiftParams,
    Route53Side,
    StepParams,
)
from deployctl.manifest import model as m
from deployctl.manifest.triggers import Trigger
from deployctl.plan.api import Step
from deployctl.plan.gates import gate_step
from deployctl.plan.graph import Ctx

NEW = "${new_version}"
STABLE = "${stable_version}"
IDLE = "${idle_color}"

T = TypeVar("T")


class Shift(NamedTuple):
    """A step sending ``weight``% to the new side (``Step.traffic``)."""

    params: StepParams
    what: str  # the step's description
    undo: str
    outputs: tuple[str, ...] = ()


class TargetPlanner(ABC, Generic[T]):
    """The steps one kind of target (``T``, a manifest model class) adds to a
    region's chain.  Between :meth:`prepare` and :meth:`traffic` come the smoke
    tests; after :meth:`traffic`, the watch after promotion, then :meth:`cleanup`."""

    @abstractmethod
    def name(self, target: T) -> str:
        """The target, for people: ``fn:live``, ``listener abc``."""

    def prepare(
        self, ctx: Ctx, d: m.Deployment, target: T, region: str, p: str, after: list[str]
    ) -> list[str]:
        """Steps before traffic moves: learn the live side, put the new version
        on the idle one.  Returns the chain's last steps."""
        return after

    def own_function(self, target: T) -> str | None:
        """The Lambda function whose code :meth:`prepare` updates, if any."""
        return None

    @abstractmethod
    def traffic(
        self,
        ctx: Ctx,
        d: m.Deployment,
        target: T,
        region: str,
        p: str,
        after: list[str],
        triggers: Sequence[Trigger],
    ) -> list[str]:
        """The steps that move traffic and the gates that watch them."""

    def cleanup(self, ctx: Ctx, target: T, region: str, p: str, after: list[str]) -> list[str]:
        """Steps after the watch: what the old version leaves behind."""
        return after


class StagedPlanner(TargetPlanner[T]):
    """Traffic moves stage by stage: a shift step, then the stage's gate."""

    @abstractmethod
    def shift(self, target: T, weight: int) -> Shift:
        """The step sending ``weight``% to the new side."""

    def traffic(
        self,
        ctx: Ctx,
        d: m.Deployment,
        target: T,
        region: str,
        p: str,
        after: list[str],
        triggers: Sequence[Trigger],
    ) -> list[str]:
        g, s = ctx.graph, d.strategy
        single = s.type in ("blue-green", "all-at-once")
        for n, stage in enumerate(s.stages, start=1):
            base = f"{p}/{s.type}" if single else f"{p}/{s.type}/stage-{n}"
            tags = [f"region:{region}", f"stage:{n}"]
            if n == 1:
                tags.append("switch-traffic")
            if stage.traffic == 100:
                tags.append("promote")
            shift = self.shift(target, stage.traffic)
            shift_id = f"{base}/switch" if s.type == "blue-green" else f"{base}/shift"
            after = [
                g.add(
                    Step(
                        shift_id,
                        shift.params.KIND,
                        shift.what,
                        shift.params.to_params(),
                        tuple(after),
                        region,
                        tuple(tags),
                        traffic=stage.traffic,
                        undo=shift.undo,
                        outputs=shift.outputs,
                    )
                )
            ]
            shifted = list(after)
            if stage.duration:
                label = "bake" if single else "analysis"
                after = [
                    g.add(
                        gate_step(
                            f"{base}/{label}",
                            duration=stage.duration,
                            interval=s.interval,
                            threshold=stage.metric_threshold,
                            analysis=d.analysis,
                            triggers=triggers,
                            deps=after,
                            region=region,
                            tags=tags[:2],
                            traffic=stage.traffic,
                            label=label,
                            alarms=(*d.rollback.alarms, *stage.alarms),
                        )
                    )
                ]
            if stage.traffic == 100:
                after += self.promoted(ctx, target, base, shifted, region, s.interval, n)
        return after

    def promoted(
        self,
        ctx: Ctx,
        target: T,
        base: str,
        shifted: list[str],
        region: str,
        interval: float,
        stage: int,
    ) -> list[str]:
        """Steps once the shift to 100% is done (``shifted``), beside that
        stage's gate: the old side drains.  Returns their ids."""
        return []


class SidesPlanner(StagedPlanner[T]):
    """A target with a blue and a green side, one of them live: a discover
    step finds which, and every shift moves weight to the idle one."""

    @abstractmethod
    def discover(self, target: T) -> StepParams:
        """The discover step's params: the target's identity."""

    def prepare(
        self, ctx: Ctx, d: m.Deployment, target: T, region: str, p: str, after: list[str]
    ) -> list[str]:
        params = self.discover(target)
        step = Step(
            f"{p}/discover",
            params.KIND,
            f"find the live side of {self.name(target)}",
            params.to_params(),
            tuple(after),
            region,
            (f"region:{region}", "phase:deploy"),
            mutating=False,
            outputs=("live_color", "idle_color"),
        )
        return [ctx.graph.add(step)]

    def shift(self, target: T, weight: int) -> Shift:
        label = self.name(target)
        return Shift(
            self.shift_params(target, weight),
            f"{label}: {weight}% to {IDLE}, {100 - weight}% to the live side",
            f"{label}: weights back to where they were",
        )

    @abstractmethod
    def shift_params(self, target: T, weight: int) -> StepParams:
        """The shift step's params: ``weight``% to ``${idle_color}``."""


def listener(target: m.AlbTarget) -> AlbListener:
    """What an ``alb.*`` step needs of the listener (an ECS step too, to read it)."""
    return AlbListener(
        listener_arn=target.listener_arn,
        blue_target_group=target.blue_target_group,
        green_target_group=target.green_target_group,
        rule_arn=target.rule_arn or None,
        min_healthy=target.min_healthy,
        health_timeout=target.health_timeout,
        drain=target.drain,
    )


class AlbPlanner(SidesPlanner[m.AlbTarget]):
    def name(self, target: m.AlbTarget) -> str:
        arn = (target.rule_arn or target.listener_arn).rsplit("/", 1)[-1]
        return f"{'rule' if target.rule_arn else 'listener'} {arn}"

    def discover(self, target: m.AlbTarget) -> StepParams:
        return AlbDiscoverParams(target=listener(target))

    def shift_params(self, target: m.AlbTarget, weight: int) -> StepParams:
        return AlbShiftParams(target=listener(target), to=IDLE, weight=weight)

    def shift(self, target: m.AlbTarget, weight: int) -> Shift:
        shift = super().shift(target, weight)
        what = f"{shift.what}, once {IDLE} has {target.min_healthy} healthy target(s)"
        return shift._replace(what=what)

    def promoted(
        self,
        ctx: Ctx,
        target: m.AlbTarget,
        base: str,
        shifted: list[str],
        region: str,
        interval: float,
        stage: int,
    ) -> list[str]:
        return [ctx.graph.add(self.drain(target, f"{base}/drain", shifted, region, interval))]

    def drain(
        self, target: m.AlbTarget, step_id: str, deps: list[str], region: str, interval: float
    ) -> Step:
        """Wait while the side traffic left finishes its requests: its target
        group's deregistration delay, or the plan's ``drain``."""
        how = "its deregistration delay" if target.drain is None else f"{target.drain:g}s"
        params = AlbDrainParams(
            target=listener(target), from_="${live_color}", drain=target.drain, interval=interval
        )
        return Step(
            step_id,
            params.KIND,
            f"{self.name(target)}: let ${{live_color}} finish its requests ({how})",
            params.to_params(),
            tuple(deps),
            region,
            (f"region:{region}", "phase:drain"),
            traffic=100,
            mutating=False,
        )


def _side(side: m.Route53Side) -> Route53Side:
    return Route53Side(
        set_identifier=side.set_identifier,
        value=side.value,
        health_check_id=side.health_check_id,
    )


class Route53Planner(SidesPlanner[m.Route53Target]):
    def name(self, target: m.Route53Target) -> str:
        return target.record_name

    def _record(self, target: m.Route53Target) -> Route53Record:
        checked = target.blue.health_check_id or target.green.health_check_id
        return Route53Record(
            hosted_zone_id=target.hosted_zone_id,
            record_name=target.record_name,
            record_type=target.record_type,
            ttl=target.ttl,
            blue=_side(target.blue),
            green=_side(target.green),
            health_timeout=target.health_timeout if checked else None,
        )

    def discover(self, target: m.Route53Target) -> StepParams:
        return Route53DiscoverParams(target=self._record(target))

    def shift_params(self, target: m.Route53Target, weight: int) -> StepParams:
        return Route53ShiftParams(target=self._record(target), to=IDLE, weight=weight)


class CloudFrontPlanner(SidesPlanner[m.CloudFrontTarget]):
    def name(self, target: m.CloudFrontTarget) -> str:
        return f"distribution {target.distribution_id}"

    def _distribution(self, target: m.CloudFrontTarget) -> CloudFrontDistribution:
        return CloudFrontDistribution(
            distribution_id=target.distribution_id,
            blue_origin=target.blue_origin,
            green_origin=target.green_origin,
        )

    def discover(self, target: m.CloudFrontTarget) -> StepParams:
        return CloudFrontDiscoverParams(target=self._distribution(target))

    def shift_params(self, target: m.CloudFrontTarget, weight: int) -> StepParams:
        return CloudFrontShiftParams(target=self._distribution(target), to=IDLE, weight=weight)

    def shift(self, target: m.CloudFrontTarget, weight: int) -> Shift:
        label = self.name(target)
        if weight == 100:
            what = f"{label}: default origin -> {IDLE}"
        else:
            what = f"{label}: continuous deployment, {weight}% to {IDLE} (staging)"
        return super().shift(target, weight)._replace(what=what)
