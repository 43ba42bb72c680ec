"""Route 53 health checks: find or create them, and wait until they pass.

Route 53 calls an endpoint healthy when more than 18% of its checkers
report success; :func:`passing` applies the same rule to
``GetHealthCheckStatus``, and a check with no observations yet (just
created) is not passing.  Records are pointed at a side only once its check
passes (:func:`wait_passing`, on the plan's clock), so DNS never sends users
to an endpoint Route 53 itself would call unhealthy.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from deployctl.core.ports import Clock
from deployctl.errors import DeployctlError
from deployctl.manifest.durations import format_duration

HEALTHY_SHARE = 0.18  # Route 53's own threshold
POLL_SECONDS = 10.0


def passing(client: Any, check_id: str) -> tuple[bool, str]:
    """(passing, what the checkers said) for one health check."""
    seen = client.get_health_check_status(HealthCheckId=check_id)["HealthCheckObservations"]
    if not seen:
        return False, "no checker has reported yet"
    reports = [str((o.get("StatusReport") or {}).get("Status") or "") for o in seen]
    good = sum(r.startswith("Success") for r in reports)
    if good / len(reports) > HEALTHY_SHARE:
        return True, f"{good} of {len(reports)} checkers report success"
    failures = sorted({r for r in reports if not r.startswith("Success")})
    return False, f"{len(reports) - good} of {len(reports)} checkers fail: {'; '.join(failures)}"


class Failing(DeployctlError):
    """Health checks that did not pass in time: nothing was pointed at them."""

    def __init__(self, failing: Mapping[str, str], waited: float) -> None:
        self.failing = dict(failing)
        parts = "; ".join(f"{name}: {why}" for name, why in sorted(failing.items()))
        super().__init__(
            f"health check(s) not passing after {format_duration(waited)}: {parts}; "
            "no record was pointed at them"
        )


def wait_passing(
    client: Any,
    checks: Mapping[str, str],
    *,
    timeout: float,
    clock: Clock,
    cancel: threading.Event | None = None,
    poll: float = POLL_SECONDS,
) -> dict[str, str]:
    """Wait until every check of ``checks`` (label -> health check id) passes;
    what each reported.  Raises :class:`Failing` after ``timeout``."""
    start = clock.now()
    deadline = start + max(0.0, timeout)
    while True:
        found = {label: passing(client, cid) for label, cid in checks.items()}
        failing = {
            f"{label} ({checks[label]})": why for label, (ok, why) in found.items() if not ok
        }
        if not failing:
            return {label: why for label, (_, why) in found.items()}
        now = clock.now()
        if now >= deadline or not clock.sleep(min(poll, deadline - now), cancel):
            raise Failing(failing, clock.now() - start)


def find(client: Any, reference: str) -> str | None:
    """The id of the health check created with caller reference ``reference``."""
    for page in client.get_paginator("list_health_checks").paginate():
        for check in page.get("HealthChecks") or ():
            if check.get("CallerReference") == reference:
                return str(check["Id"])
    return None


def ensure(client: Any, reference: str, config: Mapping[str, Any]) -> tuple[str, bool]:
    """(id, created) of the health check made with ``reference``: found by
    its caller reference first, so a retried or resumed step never makes a
    second one."""
    found = find(client, reference)
    if found is not None:
        return found, False
    made = client.create_health_check(CallerReference=reference, HealthCheckConfig=dict(config))
    return str(made["HealthCheck"]["Id"]), True


def retire(client: Any, check_ids: Iterable[str], keep: Iterable[str]) -> list[str]:
    """Delete the health checks ``check_ids`` except those in ``keep`` (still
    referenced by a record we read); returns the ids deleted.  One that a
    record elsewhere still uses stays (Route 53 refuses: ``HealthCheckInUse``),
    as does one already gone."""
    kept = set(keep)
    gone = []
    for check_id in sorted(set(check_ids) - kept):
        try:
            client.delete_health_check(HealthCheckId=check_id)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in (
                "HealthCheckInUse",
                "NoSuchHealthCheck",
            ):
                continue
            raise
        gone.append(check_id)
    return gone


def check_config(spec: Mapping[str, Any], record_type: str, value: str) -> dict[str, Any]:
    """``HealthCheckConfig`` for an endpoint a record points at (a host name
    for CNAME records, an address for A/AAAA)."""
    kind = str(spec.get("type") or "HTTPS")
    config: dict[str, Any] = {"Type": kind, "Port": int(spec.get("port") or 443)}
    if record_type == "CNAME":
        config["FullyQualifiedDomainName"] = value
    else:
        config["IPAddress"] = value
    if kind != "TCP":
        config["ResourcePath"] = str(spec.get("path") or "/")
    return config
