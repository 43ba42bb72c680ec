"""Every built-in AWS (and local) action, registered the way a plugin would be."""

from __future__ import annotations

from deployctl.actions import (
    alb,
    cloudformation,
    cloudfront,
    cloudwatch,
    command,
    ecs,
    flagstore,
    lambda_,
    rds,
    route53,
    route53_routing,
    smoke,
    ssm_secrets,
)
from deployctl.actions.aws import Clients
from deployctl.core.ports import Registry

MODULES = (
    lambda_,
    alb,
    route53,
    route53_routing,
    cloudfront,
    cloudformation,
    cloudwatch,
    smoke,
    command,
    ecs,
    flagstore,
    rds,
    ssm_secrets,  # ${ssm:/path} references, not an action
)


def register_aws(registry: Registry, clients: Clients) -> None:
    """Register every built-in action that talks to AWS (or runs locally)."""
    for module in MODULES:
        module.register(registry, clients)
