"""The built-in step kinds: the planner writes them into :class:`Step.kind`,
the actions register under them (see docs/architecture.md, "Add a step kind").

``Step.kind`` stays a ``str``: plugins register kinds of their own through the
``deployctl.actions`` entry points.  A ``StepKind`` compares equal to its value.
"""

from __future__ import annotations

import enum


class StepKind(enum.StrEnum):
    # Not an action: the executor waits for ``deployctl approve`` (no registry entry).
    APPROVAL = "approval"
    ALB_DISCOVER = "alb.discover"
    ALB_DRAIN = "alb.drain"
    ALB_SHIFT = "alb.shift"
    CLOUDFORMATION_DEPLOY = "cloudformation.deploy"
    CLOUDFRONT_DISCOVER = "cloudfront.discover"
    CLOUDFRONT_SHIFT = "cloudfront.shift"
    CLOUDWATCH_ALARMS = "cloudwatch.alarms"
    COMMAND_RUN = "command.run"
    ECS_CREATE_TASK_SET = "ecs.create_task_set"
    ECS_DELETE_TASK_SET = "ecs.delete_task_set"
    ECS_DISCOVER = "ecs.discover"
    ECS_REGISTER = "ecs.register"
    ECS_SET_PRIMARY = "ecs.set_primary"
    ECS_UPDATE_SERVICE = "ecs.update_service"
    FLAG_SET = "flag.set"
    GATE_ANALYSIS = "gate.analysis"
    LAMBDA_CLEANUP_VERSIONS = "lambda.cleanup_versions"
    LAMBDA_INVOKE = "lambda.invoke"
    LAMBDA_PUBLISH = "lambda.publish"
    LAMBDA_SHIFT = "lambda.shift"
    LAMBDA_UPDATE_CODE = "lambda.update_code"
    RDS_SNAPSHOT = "rds.snapshot"
    ROUTE53_DISCOVER = "route53.discover"
    ROUTE53_ROUTING = "route53.routing"
    ROUTE53_SHIFT = "route53.shift"
    SMOKE_HTTP = "smoke.http"
    SMOKE_LAMBDA = "smoke.lambda"
