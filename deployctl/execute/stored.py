"""The plan as a run stores it (:func:`stored_plan`), and the :class:`Plan`
rebuilt from that JSON, so ``resume RUN_ID`` and ``rollback RUN_ID`` work
without the plan file (and its variables) at hand."""

from __future__ import annotations

from typing import Any

from deployctl.core.plan import Plan
from deployctl.errors import DeployctlError, UserError
from deployctl.secrets import Redactor

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
    plan = Plan.from_json(data, source)
    if plan.digest != digest and not allow_redacted:
        raise DeployctlError(
            f"the plan stored for this run no longer matches its digest {digest[:12]} "
            "(written by another deployctl version?); resume it from the plan file"
        )
    return plan
