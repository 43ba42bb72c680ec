"""The plan as a run stores it (:func:`stored_plan`), and the :class:`Plan`
rebuilt from that JSON, so ``resume RUN_ID`` and ``rollback RUN_ID`` work
without the plan file (and its variables) at hand."""

from __future__ import annotations

from typing import Any

from deployctl.errors import DeployctlError, UserError
from deployctl.manifest.model import MetricDef, MetricQuery, Notify
from deployctl.plan.api import Plan, Publish, Step
from deployctl.secrets import Redactor


def _query(data: dict[str, Any] | None) -> MetricQuery | None:
    if data is None:
        return None
    return MetricQuery(
        namespace=data["namespace"],
        metric=data["metric"],
        stat=data["stat"],
        dimensions=tuple((str(k), str(v)) for k, v in data["dimensions"].items()),
        period=int(data["period"]),
    )


def _step(data: dict[str, Any]) -> Step:
    return Step(
        id=data["id"],
        kind=data["kind"],
        description=data["description"],
        params=data["params"],
        deps=tuple(data["deps"]),
        region=data["region"],
        tags=tuple(data["tags"]),
        traffic=data["traffic"],
        wait=float(data["wait_seconds"]),
        mutating=data["mutating"],
        reversible=data["reversible"],
        undo=data["undo"],
        one_way=data["one_way"],
        outputs=tuple(data["outputs"]),
    )


def _publish(data: dict[str, Any] | None) -> Publish | None:
    if data is None:
        return None
    return Publish(str(data["namespace"]), tuple(str(m) for m in data["publish"]))


REDACTED = "secrets_redacted"  # set on a stored plan whose secret values were blanked


def stored_plan(plan: Plan) -> dict[str, Any]:
    """The plan as a run keeps it: JSON, every secret value redacted (the journal
    never holds a secret; such a run continues from its plan file)."""
    stored = plan.to_json(with_summary=False)
    if plan.secret_values:
        stored = {**Redactor(plan.secret_values).data(stored), REDACTED: True}
    return stored


def plan_from_json(
    data: dict[str, Any], source: str, digest: str, *, allow_redacted: bool = False
) -> Plan:
    """The stored plan; raises if it no longer hashes to the run's digest.

    A plan stored with its secrets redacted cannot be run again from the
    journal (its params lack the secret values): that raises, naming the way
    on, unless ``allow_redacted`` (for reading step ids and kinds only).
    """
    if data.get(REDACTED):
        if not allow_redacted:
            raise UserError(
                "this run's plan uses secret values, which the journal never stores; name "
                f"the plan file instead of the run id ('deployctl apply {source}' or "
                f"'deployctl rollback {source}') with the same --var/--vars-file"
            )
        data = {k: v for k, v in data.items() if k != REDACTED}
    metrics = {
        name: MetricDef(
            name=name,
            query=_query(m["query"]),
            numerator=_query(m["numerator"]),
            denominator=_query(m["denominator"]),
            unit=m["unit"],
            scale=float(m["scale"]),
        )
        for name, m in data.get("metrics", {}).items()
    }
    plan = Plan(
        kind=data["kind"],
        project=data["project"],
        environment=data["environment"],
        source=source,
        steps=tuple(_step(s) for s in data["steps"]),
        metrics=metrics,
        strategy=data.get("strategy"),
        rollback_automatic=data.get("rollback", {}).get("automatic", True),
        rollback_scope=data.get("rollback", {}).get("scope", "wave"),
        publish=_publish(data.get("monitoring")),
        notify=Notify.from_json(data["notify"]) if data.get("notify") else None,
        scopes=tuple((str(p), str(e)) for p, e in data.get("scopes", ())),
    )
    if plan.digest != digest and not allow_redacted:
        raise DeployctlError(
            f"the plan stored for this run no longer matches its digest {digest[:12]} "
            "(written by another deployctl version?); resume it from the plan file"
        )
    return plan
