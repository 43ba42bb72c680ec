"""The Lambda target's planner: new code (when given), a published version,
then the alias's weights move from ``${stable_version}`` to ``${new_version}``.
Pure data, no AWS."""

from __future__ import annotations

import os.path

from deployctl.core.params import (
    LambdaAlias,
    LambdaCleanupParams,
    LambdaCode,
    LambdaPublishParams,
    LambdaShiftParams,
    LambdaUpdateCodeParams,
)
from deployctl.manifest import model as m
from deployctl.plan.api import Step
from deployctl.plan.graph import Ctx
from deployctl.plan.targets import NEW, STABLE, Shift, StagedPlanner


def update_code(
    ctx: Ctx,
    step_id: str,
    function: str,
    code: m.LambdaCode,
    after: list[str],
    region: str,
    tags: tuple[str, ...],
) -> str:
    """A ``lambda.update_code`` step; a zip file's path is relative to the plan file."""
    zip_file = code.zip_file
    if zip_file:
        zip_file = os.path.normpath(os.path.join(ctx.base_dir, zip_file))
    params = LambdaUpdateCodeParams(
        function=function,
        code=LambdaCode(
            s3_bucket=code.s3_bucket,
            s3_key=code.s3_key,
            s3_object_version=code.s3_object_version,
            zip_file=zip_file,
            image_uri=code.image_uri,
        ),
    )
    return ctx.graph.add(
        Step(
            step_id,
            params.KIND,
            f"update {function} code",
            params.to_params(),
            tuple(after),
            region,
            tags,
            outputs=("code_sha256",),
        )
    )


def _alias(target: m.LambdaTarget) -> LambdaAlias:
    return LambdaAlias(function=target.function, alias=target.alias)


class LambdaPlanner(StagedPlanner[m.LambdaTarget]):
    def name(self, target: m.LambdaTarget) -> str:
        return f"{target.function}:{target.alias}"

    def own_function(self, target: m.LambdaTarget) -> str | None:
        return target.function

    def prepare(
        self,
        ctx: Ctx,
        d: m.Deployment,
        target: m.LambdaTarget,
        region: str,
        p: str,
        after: list[str],
    ) -> list[str]:
        tags = (f"region:{region}", "phase:deploy")
        code = target.code
        if code is None and d.deploy and d.deploy.lambda_function == target.function:
            code = d.deploy.lambda_code
        if code:
            after = [
                update_code(
                    ctx, f"{p}/deploy/update-code", target.function, code, after, region, tags
                )
            ]
        # With new code, Lambda refuses to publish if $LATEST changed under us.
        params = LambdaPublishParams(
            target=_alias(target), code_sha256="${code_sha256}" if code else None
        )
        step = Step(
            f"{p}/deploy/publish",
            params.KIND,
            f"publish a version of {target.function}; note the version alias {target.alias} serves",
            params.to_params(),
            tuple(after),
            region,
            tags,
            outputs=("new_version", "stable_version", "alias_revision"),
        )
        return [ctx.graph.add(step)]

    def shift(self, target: m.LambdaTarget, weight: int) -> Shift:
        # alias_revision chains each shift onto the revision the last one left.
        params = LambdaShiftParams(
            target=_alias(target),
            new_version=NEW,
            stable_version=STABLE,
            weight=weight,
            alias_revision="${alias_revision}",
        )
        if weight == 100:
            what = f"alias {target.alias}: {NEW} at 100% (promote)"
        else:
            what = f"alias {target.alias}: {NEW} at {weight}%, {STABLE} at {100 - weight}%"
        undo = f"alias {target.alias} back to version {STABLE} at 100%"
        return Shift(params, what, undo, outputs=("alias_revision",))

    def cleanup(
        self, ctx: Ctx, target: m.LambdaTarget, region: str, p: str, after: list[str]
    ) -> list[str]:
        if not target.keep_versions:
            return after
        params = LambdaCleanupParams(target=_alias(target), keep=target.keep_versions)
        step = Step(
            f"{p}/cleanup/old-versions",
            params.KIND,
            f"delete old versions of {target.function}, keeping {target.keep_versions} and any an alias uses",
            params.to_params(),
            tuple(after),
            region,
            (f"region:{region}", "phase:cleanup"),
        )
        return [ctx.graph.add(step)]
