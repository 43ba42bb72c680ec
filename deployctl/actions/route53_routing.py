"""``route53.routing``: one record per region for a multi-region deployment,
by geolocation (continent of the region), latency, or failover (the primary
is PRIMARY, the one other region SECONDARY).  Geolocation also gets a
default record (``CountryCode: *``) to the primary region, so clients from
other continents still resolve.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deployctl.actions.api import Observation, Preview, Registry, StepRequest
from deployctl.actions.aws import Clients
from deployctl.actions.common import ActionError
from deployctl.actions.route53 import ObservedRecords, change, fqdn, record_sets, same_record
from deployctl.plan.api import Step

# Region name prefix -> Route 53 continent code.
CONTINENTS = {
    "us": "NA",
    "ca": "NA",
    "mx": "NA",
    "sa": "SA",
    "eu": "EU",
    "ap": "AS",
    "me": "AS",
    "il": "AS",
    "cn": "AS",
    "af": "AF",
}
DEFAULT_ID = "default"


def continent(region: str) -> str:
    code = CONTINENTS.get(region.split("-", 1)[0])
    if code is None:
        raise ValueError(f"no continent known for region {region!r}")
    return code


class Routing(ObservedRecords):
    """UPSERT the per-region records; outputs what each one was before
    (``previous``) and which did not exist (``created``), so undo can put
    the old ones back and delete the new ones."""

    def __init__(self, clients: Clients) -> None:
        self.clients = clients

    def _client(self, request: StepRequest) -> Any:
        return self.clients.client("route53", request.step.region)

    def preview(self, step: Step, params: Mapping[str, Any], states: Mapping[str, Any]) -> Preview:
        return self.preview_records(params, states, self.wanted_for(step, params))

    def wanted(self, request: StepRequest) -> list[dict[str, Any]]:
        return self.wanted_for(request.step, request.params)

    def wanted_for(self, step: Step, p: Mapping[str, Any]) -> list[dict[str, Any]]:
        policy = str(p["policy"])
        records: Mapping[str, str] = p["records"]
        base = {
            "Name": fqdn(p["record_name"]),
            "Type": p["record_type"],
            "TTL": int(p.get("ttl") or 60),
        }
        out = []
        for region, value in records.items():
            rr = {**base, "SetIdentifier": region, "ResourceRecords": [{"Value": value}]}
            if policy == "latency":
                rr["Region"] = region
            elif policy == "failover":
                rr["Failover"] = (p.get("failover") or {}).get(region, "SECONDARY")
            elif policy == "geolocation":
                rr["GeoLocation"] = {"ContinentCode": continent(region)}
            else:
                raise ActionError(step.kind, f"unknown routing policy {policy!r}")
            out.append(rr)
        if policy == "failover":
            roles = sorted(r["Failover"] for r in out)
            if roles != ["PRIMARY", "SECONDARY"]:
                raise ActionError(
                    step.kind,
                    "failover routing needs exactly one primary "
                    f"and one secondary region, not {roles}",
                )
        if policy == "geolocation":
            seen: dict[str, str] = {}
            for r in out:
                code = r["GeoLocation"]["ContinentCode"]
                if code in seen:
                    raise ActionError(
                        step.kind,
                        f"{seen[code]} and {r['SetIdentifier']} "
                        f"are both in continent {code}: use latency routing",
                    )
                seen[code] = r["SetIdentifier"]
            primary = step.region or next(iter(records))
            out.append(
                {
                    **base,
                    "SetIdentifier": DEFAULT_ID,
                    "GeoLocation": {"CountryCode": "*"},
                    "ResourceRecords": [{"Value": records[primary]}],
                }
            )
        return out

    def _live(self, request: StepRequest) -> dict[str, dict[str, Any]]:
        p = request.params
        sets = record_sets(
            self._client(request), p["hosted_zone_id"], p["record_name"], p["record_type"]
        )
        return {s["SetIdentifier"]: s for s in sets if s.get("SetIdentifier")}

    def observe(self, request: StepRequest) -> Observation:
        live = self._live(request)
        missing = [
            r["SetIdentifier"]
            for r in self.wanted(request)
            if not same_record(live.get(r["SetIdentifier"]) or {}, r)
        ]
        if missing:
            return Observation(applied=False, detail=f"to change: {', '.join(missing)}")
        return Observation(applied=True, detail="every record in place")

    def _replaced(
        self, request: StepRequest, live: Mapping[str, dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The records to write, and what undo needs: the ones they replace
        (``previous``) and the ones they create (``created``)."""
        wanted = self.wanted(request)
        todo = [r for r in wanted if not same_record(live.get(r["SetIdentifier"]) or {}, r)]
        previous = [live[r["SetIdentifier"]] for r in wanted if r["SetIdentifier"] in live]
        created = [r["SetIdentifier"] for r in todo if r["SetIdentifier"] not in live]
        return todo, {"previous": previous, "created": created}

    def before(self, request: StepRequest) -> Mapping[str, Any]:
        return self._replaced(request, self._live(request))[1]

    def apply(self, request: StepRequest) -> Mapping[str, Any]:
        todo, replaced = self._replaced(request, self._live(request))
        change(
            self._client(request),
            request.params["hosted_zone_id"],
            [("UPSERT", r) for r in todo],
            f"deployctl {request.step.id}",
        )
        return replaced

    def undo(self, request: StepRequest, outputs: Mapping[str, Any]) -> None:
        live = self._live(request)
        changes = [
            ("UPSERT", r)
            for r in outputs.get("previous") or ()
            if not same_record(live.get(r["SetIdentifier"]) or {}, r)
        ]
        # DELETE needs the record exactly as it is now; skip ones already gone.
        changes += [("DELETE", live[i]) for i in outputs.get("created") or () if i in live]
        change(
            self._client(request),
            request.params["hosted_zone_id"],
            changes,
            f"deployctl undo {request.step.id}",
        )


def register(registry: Registry, clients: Clients) -> None:
    registry.register("route53.routing", Routing(clients))
