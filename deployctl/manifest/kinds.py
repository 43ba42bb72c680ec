"""One builder per document kind, on top of :class:`Builder`'s shared readers."""

from __future__ import annotations

from typing import Any

from deployctl.diagnostics import Path
from deployctl.manifest import ecs, safety
from deployctl.manifest import model as m
from deployctl.manifest.build import CLOUDFRONT_MAX_STAGING_PERCENT, Builder, _pairs
from deployctl.manifest.presets import parse_preset
from deployctl.manifest.regions import regions

STRATEGIES_BY_TARGET = {
    "lambda": {"canary", "linear", "blue-green", "all-at-once"},
    "alb": {"canary", "linear", "blue-green", "all-at-once"},
    "route53": {"canary", "linear", "blue-green", "all-at-once"},
    # Linear would need steps above CloudFront's 15% staging cap.
    "cloudfront": {"canary", "blue-green", "all-at-once"},
    "cloudformation": {"all-at-once"},
    "ecs": {"canary", "linear", "blue-green", "all-at-once"},
}
PHASE_ORDER = ("dual_write", "backfill", "validate", "switch_read", "cleanup")


def _code(spec: dict[str, Any] | None) -> m.LambdaCode | None:
    if not spec:
        return None
    return m.LambdaCode(**{k: spec[k] for k in spec})


def _cfn(spec: dict[str, Any]) -> m.CloudFormationTarget:
    return m.CloudFormationTarget(
        spec["stack"],
        spec["template"],
        _pairs(spec.get("parameters")),
        tuple(spec.get("capabilities") or ()),
    )


def target(b: Builder) -> m.Target:
    (name, spec), *_ = b.data["target"].items()
    path: Path = ("target", name)
    if name == "lambda":
        code = _code(spec.get("code"))
        if code and sum(x is not None for x in (code.s3_key, code.zip_file, code.image_uri)) != 1:
            b.check.error(
                (*path, "code"),
                "code needs exactly one of {s3_bucket, s3_key}, {zip_file} or {image_uri}",
            )
        if code and (code.s3_key is None) != (code.s3_bucket is None):
            b.check.error((*path, "code"), "an S3 code source needs both s3_bucket and s3_key")
        return m.LambdaTarget(spec["function"], spec["alias"], code, spec.get("keep_versions"))
    if name == "alb":
        return ecs.listener(b, spec, path)
    if name == "ecs":
        return ecs.target(b, spec)
    if name == "route53":
        sides = [
            m.Route53Side(
                spec[s]["set_identifier"], spec[s]["value"], spec[s].get("health_check_id")
            )
            for s in ("blue", "green")
        ]
        if sides[0].set_identifier == sides[1].set_identifier:
            b.check.error(
                (*path, "green", "set_identifier"), "blue and green need different set identifiers"
            )
        return m.Route53Target(
            spec["hosted_zone_id"],
            spec["record_name"],
            spec.get("record_type", "CNAME"),
            spec.get("ttl", 60),
            sides[0],
            sides[1],
            safety.timeout(b, spec, (*path, "health_timeout")),
        )
    if name == "cloudfront":
        return m.CloudFrontTarget(
            spec["distribution_id"], spec["blue_origin"], spec["green_origin"]
        )
    return _cfn(spec)


def deploy(b: Builder) -> m.Deploy | None:
    spec = b.data.get("deploy")
    if not spec:
        return None
    if "cloudformation" in spec:
        return m.Deploy(cloudformation=_cfn(spec["cloudformation"]))
    if "lambda" in spec:
        fn = spec["lambda"]
        return m.Deploy(lambda_function=fn["function"], lambda_code=_code(fn["code"]))
    if "ecs" in spec:
        return m.Deploy(ecs=ecs.deploy(b, spec["ecs"]))
    return m.Deploy(command=tuple(spec["command"]))


def strategy(b: Builder, target_name: str) -> m.Strategy:
    spec = b.data["strategy"]
    path: Path = ("strategy",)
    kind = spec.get("type")
    preset_name = spec.get("preset")
    interval = b.check.duration(spec.get("interval"), (*path, "interval")) or 60.0
    threshold = spec.get("metric_threshold")
    stages: list[m.Stage] = []
    if preset_name:
        preset = parse_preset(preset_name)
        if preset is None:
            b.check.error(
                (*path, "preset"),
                f"unknown preset {preset_name!r} (e.g. Canary10Percent5Minutes, Linear10PercentEvery1Minute, AllAtOnce)",
            )
            return m.Strategy(kind or "canary", (m.Stage(100, None),), interval, preset_name)
        why = preset.problem(preset_name)
        if why is not None:
            b.check.error((*path, "preset"), why)
            return m.Strategy(preset.type, (m.Stage(100, None),), interval, preset_name)
        if kind and kind != preset.type:
            b.check.error(
                (*path, "type"), f"type {kind!r} contradicts preset {preset_name!r} ({preset.type})"
            )
        kind = preset.type
        if preset.type == "canary":
            stages = [
                m.Stage(preset.percent, preset.minutes * 60.0, threshold),
                m.Stage(100, None, threshold),
            ]
        elif preset.type == "linear":
            stages = _linear(preset.percent, preset.minutes * 60.0, threshold)
        else:
            stages = [m.Stage(100, None, threshold)]
    elif kind is None:
        b.check.error(
            path, "set strategy.type (canary, linear, blue-green, all-at-once) or strategy.preset"
        )
        return m.Strategy("all-at-once", (m.Stage(100, None),), interval)
    elif kind == "canary":
        stages = _canary(b, spec.get("stages"), threshold)
    elif kind == "linear":
        if "step" not in spec or "every" not in spec:
            b.check.error(path, "a linear strategy needs 'step' (percent) and 'every' (duration)")
            return m.Strategy(kind, (m.Stage(100, None),), interval)
        every = b.check.duration(spec["every"], (*path, "every")) or 0.0
        stages = _linear(spec["step"], every, threshold)
    else:  # blue-green / all-at-once: one switch, then an optional bake
        bake = b.check.duration(spec.get("bake"), (*path, "bake"))
        stages = [m.Stage(100, bake, threshold)]
    for key in ("stages", "step", "every", "bake"):
        if key in spec and not _allowed(kind, key) and not preset_name:
            b.check.error((*path, key), f"{key!r} does not apply to a {kind} strategy")
    allowed = STRATEGIES_BY_TARGET[target_name]
    if kind not in allowed:
        hint = (
            " (for blue-green on a stack, use deploy: cloudformation with an alb, route53 or cloudfront target)"
            if target_name == "cloudformation"
            else ""
        )
        b.check.error(
            (*path, "type"),
            f"a {target_name} target supports {', '.join(sorted(allowed))}, not {kind}{hint}",
        )
    elif target_name == "cloudfront":
        over = [
            (i, s) for i, s in enumerate(stages) if CLOUDFRONT_MAX_STAGING_PERCENT < s.traffic < 100
        ]
        # Point at each stage the user wrote; a preset is one mistake, said once.
        for i, stage in over if "stages" in spec else over[:1]:
            where: Path = (*path, "stages", i, "traffic") if "stages" in spec else path
            b.check.error(
                where,
                f"CloudFront continuous deployment sends at most {CLOUDFRONT_MAX_STAGING_PERCENT}% to staging before promotion, not {stage.traffic}%",
            )
    return m.Strategy(kind, tuple(stages), interval, preset_name)


def _allowed(kind: str, key: str) -> bool:
    return key in {"canary": {"stages"}, "linear": {"step", "every"}}.get(kind, {"bake"})


def _linear(step: int, every: float, threshold: float | None) -> list[m.Stage]:
    percents = [*range(step, 100, step), 100]
    return [m.Stage(p, None if p == 100 else every, threshold) for p in percents]


def _canary(b: Builder, raw: list[dict[str, Any]] | None, threshold: float | None) -> list[m.Stage]:
    if not raw:
        b.check.error(("strategy",), "a canary strategy needs 'stages' (or a preset)")
        return [m.Stage(100, None)]
    stages = []
    previous = 0
    for i, stage in enumerate(raw):
        path: Path = ("strategy", "stages", i)
        last = i == len(raw) - 1
        if stage["traffic"] <= previous:
            b.check.error(
                (*path, "traffic"),
                f"stage traffic must rise strictly ({stage['traffic']} after {previous})",
            )
        previous = stage["traffic"]
        if last and stage["traffic"] != 100:
            b.check.error(
                (*path, "traffic"),
                f"the last stage must send 100% of traffic, not {stage['traffic']}%",
            )
        duration = b.check.duration(stage["duration"], (*path, "duration"), stable_ok=last)
        stages.append(
            m.Stage(
                stage["traffic"],
                duration,
                stage.get("metric_threshold", threshold),
                tuple(stage.get("alarms") or ()),
            )
        )
    return stages


def smoke(b: Builder) -> tuple[m.SmokeTest, ...]:
    out = []
    seen: set[str] = set()
    for i, test in enumerate((b.data.get("tests") or {}).get("smoke") or ()):
        path: Path = ("tests", "smoke", i)
        if test["name"] in seen:
            b.check.error((*path, "name"), f"duplicate smoke test name {test['name']!r}")
        seen.add(test["name"])
        if ("http" in test) == ("lambda" in test):
            b.check.error(path, "a smoke test needs exactly one of 'http' or 'lambda'")
        elif "http" in test:
            h = test["http"]
            timeout = b.check.duration(h.get("timeout"), (*path, "http", "timeout")) or 5.0
            check = m.HttpCheck(
                h["url"],
                h.get("expect_status", 200),
                h.get("body_contains"),
                timeout,
                h.get("retries", 0),
                h.get("method", "GET"),
                tuple((str(k), str(v)) for k, v in (h.get("headers") or {}).items()),
            )
            out.append(m.SmokeTest(test["name"], http=check))
        elif "lambda" in test:
            fn = test["lambda"]
            out.append(
                m.SmokeTest(
                    test["name"],
                    invoke=m.LambdaInvoke(
                        fn["function"], fn.get("qualifier"), fn.get("payload"), fn.get("expect")
                    ),
                )
            )
    return tuple(out)


def deployment(b: Builder) -> m.Deployment:
    tgt = target(b)
    target_name = m.TARGET_NAMES[type(tgt)]
    metrics = b.metrics(tgt)
    known = {d.name for d in metrics}
    strat = strategy(b, target_name)
    needs_metric = any(s.metric_threshold is not None for s in strat.stages)
    flags = b.flags()
    where = regions(b)
    for i, replica in enumerate(where.replicas if where else ()):
        if replica.latency_threshold is not None and "Latency" not in known:
            b.check.error(
                ("regions", "replicas", i, "latency_threshold"),
                "latency_threshold needs a 'Latency' metric; a "
                f"{target_name} target has none by default, so add one under metrics:",
            )
    back = b.rollback(known)
    safety.final_stage_gated(b, strat, back)
    deployed = deploy(b)
    ecs.check_pairing(b, tgt, deployed)
    return m.Deployment(
        header=b.head,
        target=tgt,
        strategy=strat,
        deploy=deployed,
        metrics=metrics,
        analysis=b.analysis(known, needs_metric),
        rollback=back,
        smoke=smoke(b),
        approvals=b.approvals(),
        regions=where,
        flags=flags,
        store=b.default_store() if flags else b.store(),
        monitoring=b.monitoring(),
    )


def feature_flags(b: Builder) -> m.FeatureFlags:
    metrics = b.metrics(None)
    known = {d.name for d in metrics}
    flags = b.flags()
    needs_metric = any(s.metric_threshold is not None for f in flags for s in f.rollout)
    return m.FeatureFlags(
        header=b.head,
        store=b.default_store(),
        flags=flags,
        interval=b.check.duration(b.data.get("interval"), ("interval",)) or 60.0,
        metrics=metrics,
        analysis=b.analysis(known, needs_metric),
        rollback=b.rollback(known),
        approvals=b.approvals(),
        monitoring=b.monitoring(),
    )


def migration(b: Builder) -> m.Migration:
    db = b.data["database"]
    phases = []
    last_rank = -1
    for i, raw in enumerate(b.data["phases"]):
        (name, spec), *_ = raw.items()
        path: Path = ("phases", i, name)
        rank = PHASE_ORDER.index(name)
        if rank < last_rank:
            b.check.error(
                path,
                f"phase {name!r} cannot come after {PHASE_ORDER[last_rank]!r} (order: {' -> '.join(PHASE_ORDER)})",
            )
        last_rank = max(rank, last_rank)
        if name in ("dual_write", "switch_read"):
            phases.append(m.Phase(name, i, flag=spec["flag"]))
        else:
            phases.append(m.Phase(name, i, runner=b.runner(spec, path), approval=name == "cleanup"))
    names = [p.name for p in phases]
    for name in set(names):
        if names.count(name) > 1:
            b.check.error(("phases",), f"phase {name!r} appears {names.count(name)} times")
    return m.Migration(
        header=b.head,
        rds_instance=db.get("rds_instance"),
        rds_cluster=db.get("rds_cluster"),
        snapshot=b.data.get("snapshot", True),
        phases=tuple(phases),
        store=b.default_store(),
        approvals=b.approvals(),
        monitoring=b.monitoring(),
    )


def pipeline(b: Builder, children: tuple[tuple[m.Manifest, ...], ...]) -> m.Pipeline:
    envs = []
    seen: set[str] = set()
    for i, env in enumerate(b.data["environments"]):
        if env["name"] in seen:
            b.check.error(("environments", i, "name"), f"environment {env['name']!r} appears twice")
        seen.add(env["name"])
        envs.append(
            m.PipelineEnv(
                env["name"],
                env.get("tests"),
                env.get("approval") == "required",
                tuple(sorted((env.get("vars") or {}).items())),
            )
        )
    safety.pipeline_shares(b, tuple(envs), children)
    return m.Pipeline(b.head, b.data["plan"], tuple(envs), children)
