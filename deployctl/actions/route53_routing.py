"""``route53.routing``: the records of a multi-region deployment.

By policy: geolocation (the continent of each region, plus a default
record ``CountryCode: *`` to the primary, so clients from other continents
still resolve), latency, or failover.  Failover with two regions is one
PRIMARY and one SECONDARY record; with more (the seed's primary, active-active
and active-passive replicas) the planner lays out latency records for the
active regions under ``active.<name>``, a PRIMARY alias to them (evaluating
their health) and a SECONDARY record to the standby
(:mod:`deployctl.manifest.routing`).

Safety, in order: the health checks the plan names (or that failover
needs, created here) must pass before any record points at their region;
records of another routing policy under the same name are replaced in the
same change batch (Route 53 refuses a mix); and undo never leaves a name
that serves traffic with no records at all (it keeps them, and says so).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from deployctl.actions.aws import Clients
from deployctl.actions.common import HEALTH_TIMEOUT, ActionError
from deployctl.actions.route53 import ObservedRecords, change, fqdn, record_sets, same_record
from deployctl.actions.route53_health import (
    Failing,
    check_config,
    ensure,
    find,
    retire,
    wait_passing,
)
from deployctl.core.kinds import StepKind
from deployctl.core.params import Route53RoutingParams
from deployctl.core.plan import Step
from deployctl.core.ports import Observation, Preview, Registry, StepRequest
from deployctl.manifest.routing import continent

DEFAULT_ID = "default"
PRIMARY_ID = "primary"
RecordSet = dict[str, Any]
Key = tuple[str, str]  # (name, set identifier)


def _key(rr: Mapping[str, Any]) -> Key:
    return fqdn(str(rr["Name"])), str(rr.get("SetIdentifier") or "")


def _policy(rr: Mapping[str, Any]) -> str:
    for field, name in (
        ("Failover", "failover"),
        ("GeoLocation", "geolocation"),
        ("Region", "latency"),
        ("Weight", "weighted"),
    ):
        if rr.get(field) is not None:
            return name
    return "simple"


def reference(p: Route53RoutingParams, region: str, config: Any) -> str:
    """A health check's caller reference: the same name, region and settings
    find the same check on every run (64 characters at most)."""
    body = json.dumps([p.hosted_zone_id, fqdn(p.record_name), region, config])
    return f"deployctl-{region}-{hashlib.sha256(body.encode()).hexdigest()[:24]}"[:64]


class Routing(ObservedRecords):
    """UPSERT the per-region records; outputs what they replaced (``previous``),
    which did not exist (``created``, as ``[name, set identifier]``) and the
    health checks they carry, so undo can put the old ones back."""

    def __init__(self, clients: Clients) -> None:
        self.clients = clients

    def _client(self, request: StepRequest) -> Any:
        return self.clients.client("route53", request.step.region)

    def _params(self, request: StepRequest) -> Route53RoutingParams:
        return Route53RoutingParams.from_params(request.params)

    # --- health checks ------------------------------------------------------------

    def _checks(self, request: StepRequest, *, create: bool) -> dict[str, str]:
        """region -> health check id: named ones, and created ones (found by
        their caller reference first; with ``create`` False, only found)."""
        p = self._params(request)
        client = self._client(request)
        out: dict[str, str] = {}
        for region, spec in (p.health_checks or {}).items():
            if spec.get("id"):
                out[region] = str(spec["id"])
                continue
            config = check_config(spec["create"], p.record_type, p.records[region])
            ref = reference(p, region, config)
            found = ensure(client, ref, config)[0] if create else find(client, ref)
            if found is not None:
                out[region] = found
        return out

    # --- the records wanted ----------------------------------------------------------

    def preview(self, step: Step, params: Mapping[str, Any], states: Mapping[str, Any]) -> Preview:
        p = Route53RoutingParams.from_params(params)
        named = {r: str(s["id"]) for r, s in (p.health_checks or {}).items() if "id" in s}
        main = fqdn(p.record_name)
        wanted = [r for r in self.wanted_for(step, p, named) if fqdn(r["Name"]) == main]
        return self.preview_records(params, states, wanted)

    def wanted_for(
        self, step: Step, p: Route53RoutingParams, checks: Mapping[str, str]
    ) -> list[RecordSet]:
        policy = str(p.policy)
        records = p.records
        zone = str(p.hosted_zone_id).rsplit("/", 1)[-1]
        ttl = int(p.ttl or 60)

        def record(name: str, ident: str, value: str, region: str | None = None) -> RecordSet:
            rr: RecordSet = {
                "Name": fqdn(name),
                "Type": p.record_type,
                "TTL": ttl,
                "SetIdentifier": ident,
                "ResourceRecords": [{"Value": value}],
            }
            if region is not None and region in checks:
                rr["HealthCheckId"] = checks[region]
            return rr

        layout = p.layout
        if policy == "failover" and layout:
            out = []
            for region in layout["active"]:
                rr = record(layout["active_name"], region, records[region], region)
                rr["Region"] = region
                out.append(rr)
            out.append(
                {
                    "Name": fqdn(p.record_name),
                    "Type": p.record_type,
                    "SetIdentifier": PRIMARY_ID,
                    "Failover": "PRIMARY",
                    "AliasTarget": {
                        "HostedZoneId": zone,
                        "DNSName": fqdn(layout["active_name"]),
                        "EvaluateTargetHealth": True,
                    },
                }
            )
            standby = layout["standby"]
            rr = record(p.record_name, standby, records[standby], standby)
            rr["Failover"] = "SECONDARY"
            out.append(rr)
            return out
        out = []
        for region, value in records.items():
            rr = record(p.record_name, region, value, region)
            if policy == "latency":
                rr["Region"] = region
            elif policy == "failover":
                rr["Failover"] = (p.failover or {}).get(region, "SECONDARY")
            elif policy == "geolocation":
                code = continent(region)
                if code is None:
                    raise ActionError(step.kind, f"no continent known for region {region!r}")
                rr["GeoLocation"] = {"ContinentCode": code}
            else:
                raise ActionError(step.kind, f"unknown routing policy {policy!r}")
            out.append(rr)
        if policy == "geolocation":
            seen: dict[str, str] = {}
            for rr in out:
                code = rr["GeoLocation"]["ContinentCode"]
                if code in seen:  # validate refuses this; a hand-built plan may not
                    raise ActionError(
                        step.kind,
                        f"{seen[code]} and {rr['SetIdentifier']} are both in continent {code}: "
                        "use latency routing",
                    )
                seen[code] = rr["SetIdentifier"]
            primary = step.region or next(iter(records))
            rr = record(p.record_name, DEFAULT_ID, records[primary])
            rr["GeoLocation"] = {"CountryCode": "*"}
            out.append(rr)
        return out

    # --- live records ------------------------------------------------------------------

    def _live(self, request: StepRequest, names: Iterable[str]) -> dict[Key, RecordSet]:
        p = self._params(request)
        client = self._client(request)
        out: dict[Key, RecordSet] = {}
        for name in sorted({fqdn(n) for n in names}):
            for rr in record_sets(client, p.hosted_zone_id, name, p.record_type):
                out[_key(rr)] = rr
        return out

    def _names(self, request: StepRequest) -> list[str]:
        p = self._params(request)
        layout = p.layout or {}
        return [p.record_name, *([layout["active_name"]] if layout else [])]

    def _plan(
        self, wanted: list[RecordSet], live: Mapping[Key, RecordSet]
    ) -> tuple[list[tuple[str, RecordSet]], dict[str, Any]]:
        """The change batch, and what undo needs: the records it replaces or
        removes (``previous``) and the ones it creates (``created``).  Live
        records of another routing policy under a wanted name go in the same
        batch: Route 53 refuses a name that mixes policies."""
        want = {_key(r): r for r in wanted}
        policy = {_key(r)[0]: _policy(r) for r in wanted}
        stale = [
            k
            for k, rr in live.items()
            if k not in want and policy.get(k[0]) not in (None, _policy(rr))
        ]
        upsert = [r for k, r in want.items() if not same_record(live.get(k) or {}, r)]
        changes = [("DELETE", live[k]) for k in stale] + [("UPSERT", r) for r in upsert]
        previous = [live[k] for k in [*stale, *want] if k in live]
        created = [list(k) for k in want if k not in live]
        return changes, {"previous": previous, "created": created}

    def observe(self, request: StepRequest) -> Observation:
        checks = self._checks(request, create=False)
        wanted = self.wanted_for(request.step, self._params(request), checks)
        changes, _ = self._plan(wanted, self._live(request, self._names(request)))
        if changes:
            todo = ", ".join(sorted({str(rr.get("SetIdentifier")) for _, rr in changes}))
            return Observation(applied=False, detail=f"to change: {todo}")
        return Observation(applied=True, detail="every record in place")

    def before(self, request: StepRequest) -> Mapping[str, Any]:
        checks = self._checks(request, create=False)
        wanted = self.wanted_for(request.step, self._params(request), checks)
        return self._plan(wanted, self._live(request, self._names(request)))[1]

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        p = self._params(request)
        checks = self._checks(request, create=True)
        if checks:
            timeout = p.health_timeout
            try:
                wait_passing(
                    self._client(request),
                    checks,
                    timeout=HEALTH_TIMEOUT if timeout is None else float(timeout),
                    clock=request.clock,
                    cancel=request.cancel,
                )
            except Failing as exc:
                raise ActionError(request.step.kind, str(exc)) from None
        wanted = self.wanted_for(request.step, p, checks)
        changes, replaced = self._plan(wanted, self._live(request, self._names(request)))
        change(
            self._client(request),
            p.hosted_zone_id,
            changes,
            f"deployctl {request.step.id}",
        )
        return {**replaced, "health_checks": checks}

    def undo(self, request: StepRequest, outputs: Mapping[str, Any]) -> Mapping[str, Any] | None:
        p = self._params(request)
        main = fqdn(p.record_name)
        live = self._live(request, self._names(request))
        previous = {_key(r): r for r in outputs.get("previous") or ()}
        # Journals from before the layered shape list created set identifiers alone.
        created = [
            (fqdn(c[0]), str(c[1])) if isinstance(c, list) else (main, str(c))
            for c in outputs.get("created") or ()
        ]
        deletes = [live[k] for k in created if k in live and k not in previous]
        upserts = [r for k, r in previous.items() if not same_record(live.get(k) or {}, r)]
        left = {k for k in live if k[0] == main} - {_key(r) for r in deletes}
        left |= {k for k in previous if k[0] == main}
        if deletes and not left and any(k[0] == main for k in live):
            # The name serves traffic now: removing its last records would send
            # every client to NXDOMAIN.  Leave them; a person decides.
            kept = sorted(str(r.get("SetIdentifier")) for r in deletes)
            change(
                self._client(request),
                p.hosted_zone_id,
                [("UPSERT", r) for r in upserts],
                f"deployctl undo {request.step.id} (records kept)",
            )
            return {
                "kept": kept,
                "note": f"kept {len(kept)} record(s) of {main}: removing them would leave "
                "a name that serves traffic with none",
            }
        change(
            self._client(request),
            p.hosted_zone_id,
            [("DELETE", r) for r in deletes] + [("UPSERT", r) for r in upserts],
            f"deployctl undo {request.step.id}",
        )
        self._retire_checks(request)
        return None

    def _retire_checks(self, request: StepRequest) -> None:
        """Delete the health checks this step creates once no record of its
        names uses them: the records put back may still (a check made by an
        earlier run), and then it stays.  Found by caller reference, so a
        check made by an apply that died before its done record goes too."""
        created = {
            region: cid
            for region, cid in self._checks(request, create=False).items()
            if "create" in (self._params(request).health_checks or {}).get(region, {})
        }
        if not created:
            return
        live = self._live(request, self._names(request))
        used = {str(rr["HealthCheckId"]) for rr in live.values() if rr.get("HealthCheckId")}
        retire(self._client(request), created.values(), used)


def register(registry: Registry, clients: Clients) -> None:
    registry.register(StepKind.ROUTE53_ROUTING, Routing(clients))
