"""What ``deployctl status`` shows: a run's steps, folded from its journal.

The JSON form is versioned (``"format_version": 1``, also as ``"version"``
for readers of the first release); fields are only ever added.
"""

from __future__ import annotations

from typing import Any

from deployctl.execute.api import Journal
from deployctl.execute.state import fold
from deployctl.execute.stored import plan_from_json

STATUS_VERSION = 1


def run_status(journal: Journal, run_id: str) -> dict[str, Any]:
    run = journal.get_run(run_id)
    plan = plan_from_json(journal.plan_json(run_id), run.source, run.digest, allow_redacted=True)
    records = journal.records(run_id)
    state = fold(plan.by_id, records)
    steps = []
    for step in plan.steps:
        st = state.step(step.id)
        steps.append(
            {
                "id": step.id,
                "kind": step.kind,
                "region": step.region,
                "traffic": step.traffic,
                "one_way": step.one_way,
                **st.to_json(),
            }
        )
    return {
        "format_version": STATUS_VERSION,
        "version": STATUS_VERSION,
        "run": run.to_json(),
        "records": len(records),
        "rollback": {"reason": state.rollback_reason, "stopped_at": state.rollback_stopped},
        "steps": steps,
    }


def render_text(status: dict[str, Any]) -> str:
    run = status["run"]
    lines = [
        f"run {run['run_id']}: {run['status']} ({run['project']}/{run['environment']}, "
        f"plan {run['plan_digest'][:12]} from {run['source']}, by {run['user']})"
    ]
    if status["rollback"]["reason"]:
        lines.append(f"rollback: {status['rollback']['reason']}")
    if status["rollback"]["stopped_at"]:
        lines.append(f"rollback stopped at one-way door {status['rollback']['stopped_at']}")
    for s in status["steps"]:
        took = ""
        if s["started"] is not None and s["finished"] is not None:
            took = f" {s['finished'] - s['started']:.1f}s"
        extra = ""
        if s["outputs"]:
            extra = " " + " ".join(f"{k}={v}" for k, v in sorted(s["outputs"].items()))
        if s["error"]:
            extra += f" error: {s['error']}"
        if s["waiting_reason"]:
            extra += f" waiting: {s['waiting_reason']}"
        if s.get("stale"):
            extra += f" stale, not sent: {s['stale']}"
        attempts = f" x{s['attempts']}" if s["attempts"] > 1 else ""
        lines.append(f"  {s['status']:<11} {s['id']}{attempts}{took}{extra}")
    return "\n".join(lines) + "\n"
