"""CloudWatch: the metrics source behind gates, and the deployment alarms.

:class:`CloudWatchMetrics` fetches every series a check needs with ONE
``GetMetricData`` call (more only if CloudWatch pages the answer), using
``MetricStat`` queries only, and computes each metric itself:

- a query aggregates its datapoints over the window by its stat: ``Sum`` and
  ``SampleCount`` add up, ``Average`` is the mean of the period averages,
  ``Maximum``/``Minimum`` the extreme.  A percentile (``p99``) of the window
  cannot be rebuilt from per-period percentiles, so the largest period value
  stands in for it: never lower than the true value, so a gate errs towards
  failing.  (moto returns no values for percentiles: no data.)
- a ratio is ``sum(numerator) / sum(denominator)``; a denominator with no
  data or 0 is no data (``None``), a numerator with none is 0 (CloudWatch
  omits periods in which, say, no 5xx happened).
- then the result is multiplied by ``scale``.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from deployctl.actions.aws import Clients
from deployctl.core.kinds import StepKind
from deployctl.core.params import Alarm, CloudWatchAlarmsParams
from deployctl.core.plan import MetricDef, MetricQuery, Plan
from deployctl.core.ports import (
    Action,
    MetricsSource,
    Observation,
    Outcome,
    Registry,
    RunObserver,
    StepRequest,
)
from deployctl.core.records import RunInfo
from deployctl.core.status import RunStatus, StepStatus

QueryKey = tuple[str, str, str, tuple[tuple[str, str], ...], int]


def _key(q: MetricQuery) -> QueryKey:
    return (q.namespace, q.metric, q.stat, tuple(sorted(q.dimensions)), int(q.period))


def _stat_query(qid: str, q: MetricQuery) -> dict[str, Any]:
    dims = [{"Name": k, "Value": str(v)} for k, v in sorted(q.dimensions)]
    metric = {"Namespace": q.namespace, "MetricName": q.metric, "Dimensions": dims}
    return {
        "Id": qid,
        "ReturnData": True,
        "MetricStat": {"Metric": metric, "Period": int(q.period), "Stat": q.stat},
    }


def aggregate(stat: str, values: Sequence[float]) -> float | None:
    """One number for the window from the per-period values of ``stat``."""
    if not values:
        return None
    if stat in ("Sum", "SampleCount"):
        return float(sum(values))
    if stat == "Average":
        return float(sum(values)) / len(values)
    if stat == "Minimum":
        return float(min(values))
    return float(max(values))  # Maximum, and the conservative stand-in for pNN


def _utc(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)


class CloudWatchMetrics(MetricsSource):
    """Gate metrics from CloudWatch: one ``GetMetricData`` per ``fetch``."""

    def __init__(self, clients: Clients) -> None:
        self.clients = clients

    def fetch(
        self, region: str | None, metrics: Mapping[str, MetricDef], start: float, end: float
    ) -> Mapping[str, float | None]:
        ids: dict[QueryKey, str] = {}
        queries: list[dict[str, Any]] = []
        for d in metrics.values():
            for q in (d.query, d.numerator, d.denominator):
                if q is not None and _key(q) not in ids:
                    ids[_key(q)] = f"m{len(ids)}"
                    queries.append(_stat_query(ids[_key(q)], q))
        if not queries:
            return dict.fromkeys(metrics)
        # CloudWatch answers for periods that *start* inside the window: begin
        # at the period boundary so the period in progress at ``start`` counts.
        period = max(int(q["MetricStat"]["Period"]) for q in queries)
        begin = start - start % period
        # GetMetricData refuses an empty window (a check right on a period boundary).
        series = self._get(region, queries, begin, max(end, begin + 1))

        def value(q: MetricQuery | None) -> float | None:
            return None if q is None else aggregate(q.stat, series.get(ids[_key(q)], []))

        out: dict[str, float | None] = {}
        for name, d in metrics.items():
            if d.query is not None:
                raw = value(d.query)
            else:
                num, den = value(d.numerator), value(d.denominator)
                raw = None if not den else (num or 0.0) / den
            out[name] = None if raw is None else raw * d.scale
        return out

    def alarm_states(self, region: str | None, names: Sequence[str]) -> Mapping[str, str | None]:
        client = self.clients.client("cloudwatch", region)
        found: dict[str, str | None] = dict.fromkeys(names)
        for start in range(0, len(names), 100):  # DescribeAlarms takes 100 names at a time
            args: dict[str, Any] = {
                "AlarmNames": list(names[start : start + 100]),
                "AlarmTypes": ["MetricAlarm", "CompositeAlarm"],
            }
            while True:
                page = client.describe_alarms(**args)
                for alarm in [*page.get("MetricAlarms", ()), *page.get("CompositeAlarms", ())]:
                    found[alarm["AlarmName"]] = alarm["StateValue"]
                if not page.get("NextToken"):
                    break
                args["NextToken"] = page["NextToken"]
        return found

    def _get(
        self, region: str | None, queries: list[dict[str, Any]], start: float, end: float
    ) -> dict[str, list[float]]:
        client = self.clients.client("cloudwatch", region)
        # 500 queries is GetMetricData's limit; a gate needs a handful.
        args: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": _utc(start),
            "EndTime": _utc(end),
        }
        series: dict[str, list[float]] = {}
        while True:
            page = client.get_metric_data(**args)
            for result in page["MetricDataResults"]:
                series.setdefault(result["Id"], []).extend(float(v) for v in result["Values"])
            if not page.get("NextToken"):
                return series
            args["NextToken"] = page["NextToken"]


# --- alarms -------------------------------------------------------------------------


def alarm_name(namespace: str, alarm: Alarm, dimensions: Mapping[str, str]) -> str:
    """``Deployctl-fraud-or-not-prod-deployment_duration``: project and
    environment in the name, so two projects (or a pipeline's dev, staging and
    prod) in one account do not overwrite each other's alarms."""
    scope = [str(dimensions[k]) for k in ("Project", "Environment") if k in dimensions]
    return "-".join([namespace, *scope, str(alarm.name)])


def specs(p: CloudWatchAlarmsParams) -> list[dict[str, Any]]:
    """``put_metric_alarm`` arguments of every alarm of a ``cloudwatch.alarms`` step."""
    namespace = str(p.namespace or "Deployctl")
    return [alarm_spec(namespace, a, p.dimensions or {}, p.actions or {}) for a in p.alarms]


def alarm_spec(
    namespace: str,
    alarm: Alarm,
    dimensions: Mapping[str, str] | None = None,
    actions: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``put_metric_alarm`` arguments: a success rate alarms below its
    threshold, a count at or above it (the seed's "2 rollbacks in 1h" pages
    at the second), a duration above it.  ``dimensions`` are the ones
    :class:`DeploymentMetrics` publishes with (an alarm sees only datapoints
    with exactly its dimensions); ``actions`` maps the alarm's ``action``
    (alert, page, warn) to the SNS topic notified when it fires."""
    metric = str(alarm.metric)
    below = "Success" in metric
    count = metric.endswith("Count")
    stat = "Average" if below else "Sum" if count else "Maximum"
    operator = (
        "LessThanThreshold"
        if below
        else "GreaterThanOrEqualToThreshold"
        if count
        else "GreaterThanThreshold"
    )
    topic = (actions or {}).get(str(alarm.action))
    spec = {
        "AlarmName": alarm_name(namespace, alarm, dimensions or {}),
        "AlarmDescription": f"deployctl {alarm.name} (action: {alarm.action})",
        "Namespace": namespace,
        "MetricName": metric,
        "Dimensions": [{"Name": k, "Value": str(v)} for k, v in sorted((dimensions or {}).items())],
        "Statistic": stat,
        "Period": int(float(alarm.period or 300)),
        "EvaluationPeriods": 1,
        "Threshold": float(alarm.threshold),
        "ComparisonOperator": operator,
        # No deployment in the period is not a failure.
        "TreatMissingData": "notBreaching",
    }
    if topic:
        spec["AlarmActions"] = [topic]
    return spec


def _matches(live: Mapping[str, Any], spec: Mapping[str, Any]) -> bool:
    return all(live.get(k) == v for k, v in spec.items())


class Alarms(Action):
    """``cloudwatch.alarms``: create or update each alarm.

    ``apply`` writes without reading first: PutMetricAlarm is an upsert, so a
    repeated write changes nothing, and skipping the read keeps a first run
    to exactly one call per alarm.  ``observe`` reads, for reconciliation.
    """

    def __init__(self, clients: Clients) -> None:
        self.clients = clients

    def _specs(self, request: StepRequest) -> list[dict[str, Any]]:
        return specs(CloudWatchAlarmsParams.from_params(request.params))

    def observe(self, request: StepRequest) -> Observation:
        specs = self._specs(request)
        if not specs:
            return Observation(applied=True, detail="no alarms")
        client = self.clients.client("cloudwatch", request.step.region)
        live = client.describe_alarms(
            AlarmNames=[s["AlarmName"] for s in specs], AlarmTypes=["MetricAlarm"]
        )["MetricAlarms"]
        by_name = {a["AlarmName"]: a for a in live}
        todo = [s for s in specs if not _matches(by_name.get(s["AlarmName"], {}), s)]
        return Observation(applied=not todo, detail=f"{len(todo)} alarm(s) to write")

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        specs = self._specs(request)
        client = self.clients.client("cloudwatch", request.step.region)
        for spec in specs:
            client.put_metric_alarm(**spec)
        return {"alarms": [s["AlarmName"] for s in specs]}


# --- deployment metrics ---------------------------------------------------------------


def deployment_metrics(
    plan: Plan,
    outcome: Outcome,
    duration: float,
    dimensions: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The ``MetricData`` for one ended run: success 1 or 0, rollbacks 1 or 0
    (a run rolled back by hand counts too), and the run's seconds, with
    ``dimensions`` (default: the plan's project and environment)."""
    assert plan.publish is not None
    rolled_back = outcome.status in (RunStatus.ROLLED_BACK, RunStatus.ROLLBACK_INCOMPLETE)
    values = {
        "DeploymentSuccess": (1.0 if outcome.status == RunStatus.SUCCEEDED else 0.0, "Count"),
        "RollbackCount": (1.0 if rolled_back else 0.0, "Count"),
        "DeploymentDuration": (round(duration, 3), "Seconds"),
    }
    dims = dimensions or {"Environment": plan.environment, "Project": plan.project}
    listed = [{"Name": k, "Value": str(v)} for k, v in sorted(dims.items())]
    return [
        {
            "MetricName": name,
            "Dimensions": listed,
            "Value": values[name][0],
            "Unit": values[name][1],
        }
        for name in plan.publish.metrics
        if name in values
    ]


ALARMS_STEP = "monitoring/alarms"


def watched(plan: Plan) -> list[tuple[str | None, dict[str, str], str]]:
    """(region, dimensions, step-id prefix) of each distinct series the plan's
    alarms watch.

    A Pipeline's environments each bring their own ``cloudwatch.alarms`` step
    (``staging/monitoring/alarms``) watching Environment dev, staging, prod;
    the pipeline itself is Environment ``all``, which no alarm watches.  A
    plan without alarms is watched as its own project and environment, in the
    region of its first step, for all its steps (prefix ``""``).
    """
    out: list[tuple[str | None, dict[str, str], str]] = []
    for step in plan.steps:
        if step.kind == StepKind.CLOUDWATCH_ALARMS:
            dims = {str(k): str(v) for k, v in (step.params.get("dimensions") or {}).items()}
            prefix = step.id[: -len(ALARMS_STEP)] if step.id.endswith(ALARMS_STEP) else ""
            if all((step.region, dims) != (r, d) for r, d, _ in out):
                out.append((step.region, dims, prefix))
    if out:
        return out
    region = next((s.region for s in plan.steps if s.region), None)
    return [(region, {"Environment": plan.environment, "Project": plan.project}, "")]


def ended_as(outcome: Outcome, prefix: str) -> str | None:
    """How the steps under ``prefix`` ended, as a run status: succeeded when
    every one is done (dev, before staging failed and was rolled back alone),
    None when none of them ran (a pipeline that stopped before prod), else
    the run's own status.  The whole plan (``""``) is the run's status.
    """
    if not prefix or not outcome.steps:
        return outcome.status
    mine = [
        status
        for sid, status in outcome.steps.items()
        if sid.startswith(prefix) and not sid.endswith(ALARMS_STEP)
    ]
    if all(status == StepStatus.PENDING for status in mine):
        return None
    if all(status == StepStatus.DONE for status in mine):
        return RunStatus.SUCCEEDED
    return outcome.status


class DeploymentMetrics(RunObserver):
    """Publish the seed's deployment monitors for every ended run of a plan
    with ``monitoring:``, once for each series its alarms watch (see
    :func:`watched`), in each alarm's region: one ``PutMetricData`` per region.

    A Pipeline's environments are published each with how its own steps
    ended (:func:`ended_as`): dev that finished counts as a success even when
    staging then failed and the run rolled back only staging; an environment
    the run never reached publishes nothing.  Duration is the run's.

    Plans without ``monitoring:`` publish nothing: metrics nobody asked for
    would need ``cloudwatch:PutMetricData`` on every deployment role.
    """

    def __init__(self, clients: Clients) -> None:
        self.clients = clients

    def run_ended(self, plan: Plan, run: RunInfo, outcome: Outcome, duration: float) -> None:
        if plan.publish is None:
            return
        by_region: dict[str | None, list[dict[str, Any]]] = {}
        for region, dims, prefix in watched(plan):
            status = ended_as(outcome, prefix)
            if status is None:
                continue
            mine = dataclasses.replace(outcome, status=status)
            data = deployment_metrics(plan, mine, duration, dims)
            if data:
                by_region.setdefault(region, []).extend(data)
        for region, data in by_region.items():
            client = self.clients.client("cloudwatch", region)
            client.put_metric_data(Namespace=plan.publish.namespace, MetricData=data)


def register(registry: Registry, clients: Clients) -> None:
    registry.register(StepKind.CLOUDWATCH_ALARMS, Alarms(clients))
