"""Route 53: weighted blue/green records (per-region routing records are in
:mod:`deployctl.actions.route53_routing`, built on the helpers here).

Every write is an ``UPSERT`` (never CREATE/DELETE pairs, which fail on a
retry), waited to ``INSYNC`` with botocore's waiter.  Record sets are read
with ``list_resource_record_sets`` from ``StartRecordName``/``Type`` and
filtered here: moto's paginator breaks on weighted sets, and one page from
the right start is all a name needs anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from deployctl.actions.aws import Clients
from deployctl.actions.common import COLORS, HEALTH_TIMEOUT, ActionError, ReadAction, other
from deployctl.actions.route53_health import Failing, wait_passing
from deployctl.core.kinds import StepKind
from deployctl.core.params import (
    Route53DiscoverParams,
    Route53Record,
    Route53ShiftParams,
    Route53Side,
)
from deployctl.core.plan import Step
from deployctl.core.ports import Action, Observation, Preview, Registry, ResourceState, StepRequest
from deployctl.core.refs import is_unresolved
from deployctl.errors import ResourceChanged

RecordSet = dict[str, Any]


def fqdn(name: str) -> str:
    return name.lower().rstrip(".") + "."


def record_sets(client: Any, zone: str, name: str, rtype: str) -> list[RecordSet]:
    """Every record set of ``name``/``rtype`` (all set identifiers)."""
    name = fqdn(name)
    args: dict[str, Any] = {"HostedZoneId": zone, "StartRecordName": name, "StartRecordType": rtype}
    found: list[RecordSet] = []
    while True:
        page = client.list_resource_record_sets(**args)
        sets = page["ResourceRecordSets"]
        found += [s for s in sets if fqdn(s["Name"]) == name and s["Type"] == rtype]
        past = any(fqdn(s["Name"]) != name or s["Type"] != rtype for s in sets)
        if past or not page.get("IsTruncated"):
            return found
        args = {
            "HostedZoneId": zone,
            "StartRecordName": page["NextRecordName"],
            "StartRecordType": page["NextRecordType"],
        }
        if page.get("NextRecordIdentifier"):
            args["StartRecordIdentifier"] = page["NextRecordIdentifier"]


def change(client: Any, zone: str, changes: Iterable[tuple[str, RecordSet]], comment: str) -> None:
    """Send one change batch and wait until Route 53 reports it ``INSYNC``."""
    batch = [{"Action": action, "ResourceRecordSet": rrset} for action, rrset in changes]
    if not batch:
        return
    sent = client.change_resource_record_sets(
        HostedZoneId=zone, ChangeBatch={"Comment": comment[:256], "Changes": batch}
    )
    client.get_waiter("resource_record_sets_changed").wait(Id=sent["ChangeInfo"]["Id"])


def _alias(rr: Mapping[str, Any]) -> tuple[str, str, bool] | None:
    target = rr.get("AliasTarget")
    if not target:
        return None
    return (
        str(target.get("HostedZoneId", "")).rsplit("/", 1)[-1],
        fqdn(str(target.get("DNSName", ""))),
        bool(target.get("EvaluateTargetHealth")),
    )


def same_record(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    keys = ("SetIdentifier", "Weight", "TTL", "Region", "Failover", "GeoLocation", "HealthCheckId")
    values = [sorted(r["Value"] for r in x.get("ResourceRecords") or []) for x in (a, b)]
    return (
        values[0] == values[1]
        and _alias(a) == _alias(b)
        and all(a.get(k) == b.get(k) for k in keys)
    )


# --- weighted blue/green ----------------------------------------------------------


class _Weighted:
    """The two weighted record sets of one blue/green name."""

    def __init__(self, clients: Clients, step: Step, target: Route53Record) -> None:
        self.kind = step.kind
        self.target = target
        self.client = clients.client("route53", step.region)
        self.zone = str(target.hosted_zone_id)

    def side(self, color: str) -> Route53Side:
        return self.target.blue if color == "blue" else self.target.green

    def sides(self) -> dict[str, RecordSet | None]:
        t = self.target
        sets = record_sets(self.client, self.zone, t.record_name, t.record_type)
        by_id = {s.get("SetIdentifier"): s for s in sets}
        return {c: by_id.get(self.side(c).set_identifier) for c in COLORS}

    def weights(self, sides: Mapping[str, RecordSet | None] | None = None) -> dict[str, int]:
        sides = self.sides() if sides is None else sides
        if not any(sides.values()):
            raise ActionError(
                self.kind, f"{self.target.record_name}: no weighted records for blue or green"
            )
        return {c: int(s["Weight"]) if s else 0 for c, s in sides.items()}

    def record(self, color: str, weight: int) -> RecordSet:
        side = self.side(color)
        out: RecordSet = {
            "Name": fqdn(self.target.record_name),
            "Type": self.target.record_type,
            "SetIdentifier": side.set_identifier,
            "Weight": weight,
            "TTL": int(self.target.ttl or 60),
            "ResourceRecords": [{"Value": side.value}],
        }
        if side.health_check_id:
            out["HealthCheckId"] = side.health_check_id
        return out

    def healthy_before(
        self,
        request: StepRequest,
        now: Mapping[str, int],
        want: Mapping[str, int],
        *,
        undoing: bool = False,
    ) -> dict[str, str]:
        """Wait until the health check of each side gaining traffic passes;
        what the checkers said, by colour (sides without a check: nothing)."""
        checks = {
            c: str(self.side(c).health_check_id)
            for c in COLORS
            if want[c] > now[c] and self.side(c).health_check_id
        }
        timeout = self.target.health_timeout
        if not checks:
            return {}
        try:
            return wait_passing(
                self.client,
                checks,
                timeout=HEALTH_TIMEOUT if timeout is None else float(timeout),
                clock=request.clock,
                # A rollback runs with the run's halt set: its undo waits uncancelled.
                cancel=None if undoing else request.cancel,
            )
        except Failing as exc:
            raise ActionError(self.kind, str(exc)) from None

    def in_place(self, want: Mapping[str, int], sides: Mapping[str, RecordSet | None]) -> bool:
        return all(
            sides[c] is not None and same_record(sides[c] or {}, self.record(c, want[c]))
            for c in COLORS
        )

    def write(self, want: Mapping[str, int], sides: Mapping[str, RecordSet | None]) -> None:
        if self.in_place(want, sides):
            return
        changes = [("UPSERT", self.record(c, want[c])) for c in COLORS]
        change(self.client, self.zone, changes, f"deployctl {self.kind} {dict(want)}")


def _wanted_weights(step: Step, p: Route53ShiftParams) -> dict[str, int]:
    weight = int(p.weight)
    if not 0 <= weight <= 100:
        raise ActionError(step.kind, f"weight {weight} is not a percentage")
    to = str(p.to)
    return {to: weight, other(to): 100 - weight}


# --- the plan diff: one record name and type is one resource ---------------------


def record_key(params: Mapping[str, Any]) -> str:
    zone, name, rtype = params["hosted_zone_id"], fqdn(params["record_name"]), params["record_type"]
    return f"route53-record {zone} {name} {rtype}"


def _record_display(state: Mapping[str, Any] | None) -> str:
    if not state:
        return "(no records)"
    parts = []
    for ident, rr in sorted(state.items()):
        weight = f" weight {rr['Weight']}" if rr.get("Weight") is not None else ""
        parts.append(f"{ident}{weight} -> {', '.join(rr['Values'])}")
    return "; ".join(parts)


def _record_state(rr: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("Weight", "TTL", "Region", "Failover", "GeoLocation", "HealthCheckId")
    out: dict[str, Any] = {k: rr[k] for k in keys if rr.get(k) is not None}
    out["Values"] = sorted(r["Value"] for r in rr.get("ResourceRecords") or [])
    alias = _alias(rr)
    if alias is not None:
        out["Values"] = [f"alias {alias[1]}"]
    return out


class ObservedRecords(Action):
    """Describe for the Route 53 actions: every record set of one name and type,
    by set identifier (one ``ListResourceRecordSets`` page)."""

    clients: Clients

    def resources(self, step: Step, params: Mapping[str, Any]) -> tuple[str, ...]:
        return (record_key(params),)

    def describe(self, step: Step, params: Mapping[str, Any], key: str) -> ResourceState:
        client = self.clients.client("route53", step.region)
        sets = record_sets(
            client, params["hosted_zone_id"], params["record_name"], params["record_type"]
        )
        state = {str(s.get("SetIdentifier") or ""): _record_state(s) for s in sets}
        return ResourceState(key, state or None, _record_display(state))

    def preview_records(
        self, params: Mapping[str, Any], states: Mapping[str, Any], wanted: list[dict[str, Any]]
    ) -> Preview:
        key = record_key(params)
        live = dict(states[key] or {})
        want = {str(r["SetIdentifier"]): _record_state(r) for r in wanted}
        after = {**live, **want}
        same = all(live.get(i) == rr for i, rr in want.items())
        return Preview(_record_display(after), not same, {} if same else {key: after})


class Discover(ObservedRecords, ReadAction):
    """``route53.discover``: the side with the larger weight is live (a tie: blue)."""

    def __init__(self, clients: Clients) -> None:
        self.clients = clients

    def preview(self, step: Step, params: Mapping[str, Any], states: Mapping[str, Any]) -> Preview:
        live = states[record_key(params)] or {}
        target = Route53DiscoverParams.from_params(params).target
        sides = {"blue": target.blue, "green": target.green}
        weights = {
            c: int((live.get(sides[c].set_identifier) or {}).get("Weight", 0)) for c in COLORS
        }
        colour = "green" if weights["green"] > weights["blue"] else "blue"
        return Preview(
            _record_display(live),
            False,
            outputs={"live_color": colour, "idle_color": other(colour)},
        )

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        target = Route53DiscoverParams.from_params(request.params).target
        weights = _Weighted(self.clients, request.step, target).weights()
        live = "green" if weights["green"] > weights["blue"] else "blue"
        return {"live_color": live, "idle_color": other(live)}


def _unchanged(
    request: StepRequest,
    records: _Weighted,
    want: Mapping[str, int],
    sides: Mapping[str, RecordSet | None],
) -> None:
    """The weights are as this run found them before the step (Route 53 has no
    conditional write): someone else's change stops the run as stale."""
    journaled = request.before.get("previous_weights")
    if journaled and not records.in_place(want, sides):
        expected = {c: int(journaled[c]) for c in COLORS}
        now = records.weights(sides) if any(sides.values()) else None
        if now != expected:
            raise ResourceChanged(
                record_key(request.params),
                f"weights {expected} as journaled before this step",
                f"weights {now}",
            )


class Shift(ObservedRecords):
    """``route53.shift``: UPSERT both weighted records, ``weight`` to ``to``.

    Outputs ``previous_weights`` for undo, and ``before`` reads them ahead of
    the first intent, so a shift reconciled by ``observe`` after a crash still
    restores them.  With no weights on record (no records yet), undo puts
    100% on the side opposite ``to``.
    """

    def __init__(self, clients: Clients) -> None:
        self.clients = clients

    def _records(self, request: StepRequest) -> tuple[_Weighted, Route53ShiftParams]:
        p = Route53ShiftParams.from_params(request.params)
        return _Weighted(self.clients, request.step, p.target), p

    def preview(self, step: Step, params: Mapping[str, Any], states: Mapping[str, Any]) -> Preview:
        p = Route53ShiftParams.from_params(params)
        if is_unresolved(p.to):
            return Preview(f"{p.weight}% to the side found at run time", True)
        want = _wanted_weights(step, p)
        records = _Weighted(self.clients, step, p.target)
        return self.preview_records(params, states, [records.record(c, want[c]) for c in COLORS])

    def observe(self, request: StepRequest) -> Observation:
        records, p = self._records(request)
        if records.in_place(_wanted_weights(request.step, p), records.sides()):
            return Observation(applied=True, detail="weights already in place")
        return Observation(applied=False)

    def before(self, request: StepRequest) -> Mapping[str, Any]:
        records, _ = self._records(request)
        sides = records.sides()
        return {"previous_weights": records.weights(sides) if any(sides.values()) else None}

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        records, p = self._records(request)
        sides = records.sides()
        # No records yet (a first deployment): nothing to restore but the fallback.
        previous = records.weights(sides) if any(sides.values()) else None
        want = _wanted_weights(request.step, p)
        _unchanged(request, records, want, sides)
        health = records.healthy_before(request, previous or dict.fromkeys(COLORS, 0), want)
        if health:  # the wait may have been long: read again, and compare again
            sides = records.sides()
            _unchanged(request, records, want, sides)
        records.write(want, sides)
        out: dict[str, Any] = {"previous_weights": previous}
        if health:
            out["health"] = health
        return out

    def undo(self, request: StepRequest, outputs: Mapping[str, Any]) -> Mapping[str, Any] | None:
        records, p = self._records(request)
        previous = outputs.get("previous_weights")
        if previous:
            want = {c: int(previous[c]) for c in COLORS}
        else:
            want = {other(str(p.to)): 100, str(p.to): 0}
        sides = records.sides()
        now = records.weights(sides) if any(sides.values()) else dict.fromkeys(COLORS, 0)
        health = records.healthy_before(request, now, want, undoing=True)
        records.write(want, records.sides() if health else sides)
        return {"health": health} if health else None


def register(registry: Registry, clients: Clients) -> None:
    registry.register(StepKind.ROUTE53_DISCOVER, Discover(clients))
    registry.register(StepKind.ROUTE53_SHIFT, Shift(clients))
