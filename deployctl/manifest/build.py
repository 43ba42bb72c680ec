"""Turn one validated, rendered document into the frozen model.

The schema has already checked shapes and types, so this module reads fields
directly and spends its effort on meaning: ordering of stages, durations,
triggers, what a target allows.  Every problem becomes a diagnostic.
"""

from __future__ import annotations

from typing import Any

from deployctl.diagnostics import Path
from deployctl.manifest import model as m
from deployctl.manifest.checks import Checker, did_you_mean
from deployctl.manifest.defaults import default_metrics
from deployctl.manifest.secrets import looks_secret

DEFAULT_REGION = "us-east-1"
CLOUDFRONT_MAX_STAGING_PERCENT = 15  # continuous deployment's SingleWeight cap


def _pairs(mapping: dict[str, Any] | None) -> m.Pairs:
    return tuple((str(k), str(v)) for k, v in (mapping or {}).items())


def header(
    data: dict[str, Any],
    source: m.Source,
    region: str | None,
    env_secrets: tuple[str, ...] = (),
    step_refs: tuple[tuple[str, Path, int], ...] = (),
) -> m.Header:
    meta = data.get("metadata", {})
    aws = data.get("aws", {})
    regions = data.get("regions") or {}
    variables = data.get("vars") or {}
    secret = set(data.get("secrets") or ())
    secret |= {k for k in variables if looks_secret(k)}
    return m.Header(
        api_version=data["apiVersion"],
        kind=data["kind"],
        project=meta.get("project", ""),
        environment=meta.get("environment", "default"),
        description=meta.get("description"),
        region=regions.get("primary") or region or aws.get("region") or DEFAULT_REGION,
        profile=aws.get("profile"),
        assume_role=aws.get("assume_role"),
        vars=tuple(sorted(variables.items())),
        secret_vars=tuple(sorted(secret)),
        source=source,
        notify=notify(data.get("notify")),
        env_secrets=env_secrets,
        step_refs=step_refs,
        after=tuple((str(name), ("after", i)) for i, name in enumerate(data.get("after") or ())),
    )


def notify(spec: dict[str, Any] | None) -> m.Notify | None:
    """``notify:`` (the schema checked its shape)."""
    if not spec:
        return None
    events = tuple(spec.get("on") or m.NOTIFY_EVENTS)
    return m.Notify(
        events,
        tuple(str(arn) for arn in spec.get("sns") or ()),
        tuple(
            m.Webhook(w.get("url"), w.get("url_env"), tuple(w.get("on") or events))
            for w in spec.get("webhooks") or ()
        ),
    )


class Builder:
    def __init__(self, data: dict[str, Any], head: m.Header) -> None:
        self.data = data
        self.head = head
        self.check = Checker(head.source.marks)

    # --- shared pieces ---------------------------------------------------------

    def query(self, q: dict[str, Any]) -> m.MetricQuery:
        return m.MetricQuery(
            q["namespace"], q["metric"], q["stat"], _pairs(q.get("dimensions")), q.get("period", 60)
        )

    def metrics(self, target: m.Target | None) -> tuple[m.MetricDef, ...]:
        defs = {d.name: d for d in (default_metrics(target) if target else ())}
        for name, spec in (self.data.get("metrics") or {}).items():
            path: Path = ("metrics", name)
            if ("query" in spec) == ("ratio" in spec):
                self.check.error(path, "a metric needs exactly one of 'query' or 'ratio'")
                continue
            unit = spec.get("unit")
            unit = None if unit == "none" else unit
            scale = float(spec.get("scale", 1.0))
            if "query" in spec:
                defs[name] = m.MetricDef(
                    name, query=self.query(spec["query"]), unit=unit, scale=scale
                )
            else:
                ratio = spec["ratio"]
                defs[name] = m.MetricDef(
                    name,
                    numerator=self.query(ratio["numerator"]),
                    denominator=self.query(ratio["denominator"]),
                    unit=unit,
                    scale=scale,
                )
        return tuple(defs[k] for k in sorted(defs))

    def analysis(self, known: set[str], needed: bool) -> m.Analysis:
        spec = self.data.get("analysis") or {}
        result = m.Analysis(
            spec.get("metric", "ErrorRate"),
            spec.get("failure_limit", 0),
            spec.get("missing_data", "inconclusive"),
        )
        if needed and result.metric not in known:
            path: Path = ("analysis", "metric") if "metric" in spec else ("strategy",)
            names = ", ".join(sorted(known)) or "none"
            self.check.error(
                path,
                f"metric_threshold needs the metric {result.metric!r}, which this plan does not define"
                f"{did_you_mean(result.metric, known)} (known: {names}); add it under metrics:",
            )
        return result

    def rollback(self, known: set[str]) -> m.Rollback:
        spec = self.data.get("rollback") or {}
        return m.Rollback(
            triggers=self.check.triggers(spec.get("triggers"), ("rollback", "triggers"), known),
            automatic=spec.get("automatic", True),
            monitoring_time=self.check.duration(
                spec.get("monitoring_time"), ("rollback", "monitoring_time")
            ),
            scope=spec.get("scope", "wave"),
            alarms=tuple(spec.get("alarms") or ()),
        )

    def approvals(self) -> tuple[m.Approval, ...]:
        return tuple(
            m.Approval(a["before"], i) for i, a in enumerate(self.data.get("approvals") or ())
        )

    def store(self) -> m.FlagStore | None:
        spec = self.data.get("store")
        if not spec:
            return None
        if "ssm" in spec:
            return m.FlagStore("ssm", path=spec["ssm"]["path"].rstrip("/"))
        app = spec["appconfig"]
        return m.FlagStore(
            "appconfig",
            application=app["application"],
            environment=app["environment"],
            profile=app["profile"],
            deployment_strategy=app.get("deployment_strategy"),
        )

    def default_store(self) -> m.FlagStore:
        return self.store() or m.FlagStore(
            "ssm", path=f"/{self.head.project}/{self.head.environment}/flags"
        )

    def flags(self) -> tuple[m.Flag, ...]:
        out = []
        for name, given in (self.data.get("flags") or {}).items():
            path: Path = ("flags", name)
            spec = given or {}
            percentage = spec.get("percentage", 100)
            stages = []
            previous = -1
            rollout = spec.get("rollout") or ()
            for i, stage in enumerate(rollout):
                where: Path = (*path, "rollout", i)
                if stage["percentage"] <= previous:
                    self.check.error(
                        (*where, "percentage"),
                        f"rollout percentages must rise ({stage['percentage']} after {previous})",
                    )
                previous = stage["percentage"]
                last = i == len(rollout) - 1
                if last and stage["duration"].strip() == "stable" and "metric_threshold" in stage:
                    self.check.error(
                        (*where, "metric_threshold"),
                        "metric_threshold gates nothing: the last rollout stage stays "
                        "('stable' has no wait); give it a duration to watch it",
                    )
                stages.append(
                    m.FlagStage(
                        stage["percentage"],
                        self.check.duration(
                            stage["duration"], (*where, "duration"), stable_ok=last
                        ),
                        stage.get("metric_threshold"),
                    )
                )
            if stages and stages[-1].percentage > percentage:
                self.check.error(
                    (*path, "percentage"),
                    f"the rollout reaches {stages[-1].percentage}% but percentage is {percentage}",
                )
            out.append(
                m.Flag(
                    name,
                    spec.get("enabled", True),
                    percentage,
                    tuple(spec.get("allowlist") or ()),
                    tuple(stages),
                )
            )
        return tuple(out)

    def monitoring(self) -> m.Monitoring | None:
        spec = self.data.get("monitoring")
        if spec is None:
            return None
        alarms = []
        for name, alarm in sorted((spec.get("alarms") or {}).items()):
            period = self.check.duration(
                alarm.get("period"), ("monitoring", "alarms", name, "period")
            )
            alarms.append(
                m.Alarm(
                    name,
                    alarm["metric"],
                    float(alarm["threshold"]),
                    alarm["action"],
                    period or 300.0,
                )
            )
        default = m.Monitoring()
        actions = _pairs(spec.get("actions"))
        if "actions" in spec:
            for alarm in alarms:
                if alarm.action not in dict(actions):
                    self.check.error(
                        ("monitoring", "alarms", alarm.name, "action"),
                        f"action {alarm.action!r} has no SNS topic in monitoring.actions "
                        f"(it has: {', '.join(k for k, _ in actions) or 'none'})",
                    )
        return m.Monitoring(
            spec.get("namespace", default.namespace),
            tuple(spec.get("publish", default.publish)),
            tuple(alarms),
            actions,
        )

    def runner(self, spec: dict[str, Any], path: Path) -> m.Runner | None:
        if "lambda" in spec and "command" in spec:
            self.check.error(path, "a runner needs exactly one of 'lambda' or 'command'")
        if "env" in spec and "command" not in spec:
            self.check.error((*path, "env"), "env is for a command runner's program")
        timeout = self.check.duration(spec.get("timeout"), (*path, "timeout"))
        if "lambda" in spec:
            fn = spec["lambda"]
            return m.Runner(
                function=fn["function"], payload=fn.get("payload"), timeout=timeout or 3600.0
            )
        if "command" in spec:
            return m.Runner(
                command=tuple(spec["command"]),
                timeout=timeout or 3600.0,
                env=_pairs(spec.get("env")),
            )
        self.check.error(path, "a runner needs 'lambda' or 'command'")
        return None
