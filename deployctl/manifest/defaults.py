"""Metrics each target type brings, so gates work without a ``metrics:`` block.

Lambda metrics are filtered by ``ExecutedVersion`` so only the new version's
requests count; ALB metrics by the green target group; ECS metrics by the
target group the new tasks serve (``${new_target_group}``, found at run time:
blue or green, whichever was idle).  A plan's own ``metrics:`` entries
override these by name.
"""

from __future__ import annotations

from deployctl.manifest.model import (
    AlbTarget,
    CloudFrontTarget,
    EcsTarget,
    LambdaTarget,
    MetricDef,
    MetricQuery,
    Pairs,
    Target,
)


def _load_balancer_dimension(listener_arn: str) -> str:
    """``arn:...:listener/app/name/lb-id/listener-id`` -> ``app/name/lb-id``."""
    tail = listener_arn.partition(":listener/")[2]
    return tail.rsplit("/", 1)[0] if tail else listener_arn


def _target_group_dimension(arn: str) -> str:
    """``arn:...:targetgroup/name/id`` -> ``targetgroup/name/id``."""
    return arn.rpartition(":")[2]


def default_metrics(target: Target) -> tuple[MetricDef, ...]:
    dims: Pairs
    if isinstance(target, LambdaTarget):
        dims = (
            ("FunctionName", target.function),
            ("Resource", f"{target.function}:{target.alias}"),
            ("ExecutedVersion", "${new_version}"),
        )
        return (
            MetricDef(
                "ErrorRate",
                numerator=MetricQuery("AWS/Lambda", "Errors", "Sum", dims),
                denominator=MetricQuery("AWS/Lambda", "Invocations", "Sum", dims),
            ),
            MetricDef(
                "Latency", query=MetricQuery("AWS/Lambda", "Duration", "p99", dims), unit="ms"
            ),
        )
    if isinstance(target, AlbTarget | EcsTarget):
        listener = target.listener if isinstance(target, EcsTarget) else target
        group = (
            "${new_target_group}"
            if isinstance(target, EcsTarget)
            else _target_group_dimension(target.green_target_group)
        )
        dims = (
            ("LoadBalancer", _load_balancer_dimension(listener.listener_arn)),
            ("TargetGroup", group),
        )
        return (
            MetricDef(
                "ErrorRate",
                numerator=MetricQuery(
                    "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "Sum", dims
                ),
                denominator=MetricQuery("AWS/ApplicationELB", "RequestCount", "Sum", dims),
            ),
            MetricDef(
                "Latency",
                query=MetricQuery("AWS/ApplicationELB", "TargetResponseTime", "p99", dims),
                unit="ms",
                scale=1000.0,
            ),
        )
    if isinstance(target, CloudFrontTarget):
        dims = (("DistributionId", target.distribution_id), ("Region", "Global"))
        return (
            MetricDef(
                "ErrorRate",
                query=MetricQuery("AWS/CloudFront", "5xxErrorRate", "Average", dims),
                scale=0.01,  # CloudFront reports percent; gates compare fractions
            ),
        )
    return ()
