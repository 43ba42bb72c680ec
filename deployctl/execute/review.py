"""Reviewed runs: a run started from a saved plan (``plan --out``) checks,
right before each step, that the resources the step touches are as expected,
and stops (exit 5) before sending anything when one is not.

"As expected" means: as the review read it, or, once a step of this run has
touched the resource, as that step left it.  So the run's own changes never
look stale, while a hand change at any point does: an alias moved in the
console between two canary stages stops the next stage.  The expected
fingerprints live in the journal (the review's in a ``reviewed`` record,
each step's in its ``done`` record), so ``resume`` checks the same way.

A resource the review could not name (a stack named after a colour known only
during the run) has no fingerprint until a step of this run touches it, and is
not checked before then.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deployctl.core.plan import Plan, Step
from deployctl.core.ports import Action, Registry, ResourceState
from deployctl.errors import StalePlan
from deployctl.execute.observe import observe
from deployctl.execute.state import RunState

Seen = dict[str, str]  # {"fingerprint": ..., "display": ...}


@dataclass(frozen=True)
class Review:
    """A saved plan's reading of the world: when (wall clock) and what."""

    at: float
    resources: Mapping[str, Mapping[str, str]]

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "resources": {k: dict(v) for k, v in self.resources.items()}}

    def supersedes(self, state: RunState) -> bool:
        """A new run takes its review; an unfinished one only a newer review
        (re-applying the file a run started from changes nothing, while a
        fresh ``plan --out`` after a stop accepts the world as it is now)."""
        return state.reviewed is None or self.at > state.reviewed_at


class StaleResources(StalePlan):
    """A resource changed since the review (or since this run's last step on it)."""

    def __init__(self, changed: Mapping[str, tuple[str, str]], *, before: str = "") -> None:
        self.changed = dict(changed)
        what = "; ".join(f"{key}: {was} -> {now}" for key, (was, now) in sorted(changed.items()))
        if before:
            text = f"the saved plan is stale at step {before}, which was not sent: {what}"
        else:
            text = f"the saved plan is stale, nothing was sent: {what}; run 'deployctl plan --out' again"
        Exception.__init__(self, text)


def expected(state: RunState, key: str) -> Seen | None:
    """What ``key`` should look like now: the view of the last step done since
    the review, else the review's."""
    since = [
        (st.done_seq, st.seen[key])
        for st in state.steps.values()
        if key in st.seen and st.done_seq is not None and st.done_seq > state.reviewed_seq
    ]
    if since:
        return max(since, key=lambda item: item[0])[1]
    return (state.reviewed or {}).get(key)


def _differs(want: Mapping[str, str], now: ResourceState) -> tuple[str, str] | None:
    """(was, now) for the message if ``now`` is not what ``want`` recorded."""
    return None if now.fingerprint == want["fingerprint"] else (want["display"], now.display)


def check_all(plan: Plan, registry: Registry, review: Review) -> None:
    """Before a new run is created: every resource the plan reads is as the
    review saw it, the ones only later steps touch included, so a stale plan
    fails before a two-hour canary starts, not in the middle of it."""
    now = observe(plan, registry).resources
    changed: dict[str, tuple[str, str]] = {}
    for key, want in review.resources.items():
        if key not in now:
            changed[key] = (want["display"], "(no longer read by this plan)")
        elif found := _differs(want, now[key]):
            changed[key] = found
    for key in now.keys() - review.resources.keys():
        changed[key] = ("(not read at review)", now[key].display)
    if changed:
        raise StaleResources(changed)


def check(state: RunState, step: Step, action: Action, params: Mapping[str, Any]) -> None:
    """Raise :class:`StaleResources` if a resource ``step`` touches is not as expected."""
    changed: dict[str, tuple[str, str]] = {}
    for key in action.resources(step, params):
        want = expected(state, key)
        if not want or not want["fingerprint"]:  # never read, or unread after a step
            continue
        if found := _differs(want, action.describe(step, params, key)):
            changed[key] = found
    if changed:
        raise StaleResources(changed, before=step.id)


def after(step: Step, action: Action, params: Mapping[str, Any]) -> dict[str, Seen]:
    """The step's resources as it left them, for the ``done`` record.  A read
    that fails leaves an empty fingerprint: the step's change is done and must
    be journaled, and the next step on that resource goes unchecked."""
    seen: dict[str, Seen] = {}
    for key in action.resources(step, params):
        try:
            now = action.describe(step, params, key)
        except Exception as exc:  # the change is made; only the check is lost
            seen[key] = {"fingerprint": "", "display": f"(not read: {type(exc).__name__})"}
        else:
            seen[key] = {"fingerprint": now.fingerprint, "display": now.display}
    return seen
